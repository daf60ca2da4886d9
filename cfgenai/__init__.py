"""google-genai through Cloudflare AI Gateway, configured from the environment.

``from cfgenai import client`` gives a ``genai.Client`` that stands for the shared client,
built from the environment when it is first used (not when it is imported).
Importing this package builds nothing, reads no ``.env`` and does not import google-genai.

The top level holds what an application needs; :mod:`cfgenai.logs` (the gateway's logs and
feedback), :mod:`cfgenai.openai` (OpenAI's client on the gateway), :mod:`cfgenai.types` and
:mod:`cfgenai.testing` (the emulator) hold the rest.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._options import request_options
from ._settings import GatewaySettings

# For type checkers: the lazy names, and the deprecated ones (the `as` forms), so that old code
# still checks; importing a deprecated name at run time warns.
if TYPE_CHECKING:
    from google import genai

    from ._client import aclose_client, build_client, client_kwargs, reset_client
    from ._client import shared_client as shared_client
    from ._options import GatewayOptions as GatewayOptions
    from ._responses import GatewayError, GatewayInfo, OffGatewayError, RedirectError, gateway_info
    from .logs import CloudflareAPIError as CloudflareAPIError
    from .logs import LogEntry as LogEntry
    from .logs import afeedback as afeedback
    from .logs import aget_log as aget_log
    from .logs import feedback as feedback
    from .logs import get_log as get_log
    from .openai import async_openai_client as async_openai_client
    from .openai import compat_model as compat_model
    from .openai import openai_client as openai_client
    from .types import DlpFinding as DlpFinding
    from .types import DlpInfo as DlpInfo
    from .types import RequestOptions as RequestOptions

    client: genai.Client
    """The shared ``genai.Client``, built from the environment on first use, shared by every
    later use, and replaced after :func:`reset_client`, after it is closed and in a forked child."""

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "GatewayError",
    "GatewayInfo",
    "GatewaySettings",
    "OffGatewayError",
    "RedirectError",
    "aclose_client",
    "build_client",
    "client",
    "client_kwargs",
    "gateway_info",
    "request_options",
    "reset_client",
]

# Names whose modules import google-genai, loaded on first use to keep `import cfgenai` cheap.
_LAZY = {
    **dict.fromkeys(
        ("client", "build_client", "client_kwargs", "reset_client", "aclose_client"), "_client"
    ),
    **dict.fromkeys(
        ("GatewayError", "GatewayInfo", "OffGatewayError", "RedirectError", "gateway_info"),
        "_responses",
    ),
}

# Top-level names of 0.1.0's previews, with their new place; removed in 0.3.0 (CHANGELOG.md).
_MOVED = {
    "shared_client": ("_client", "cfgenai.client (the same client) or cfgenai.build_client()"),
    "GatewayOptions": ("_options", "GatewaySettings or request_options() (it is private now)"),
    **{
        name: (module, f"cfgenai.{module}.{name}")
        for module, names in {
            "logs": (
                "get_log",
                "aget_log",
                "feedback",
                "afeedback",
                "LogEntry",
                "CloudflareAPIError",
            ),
            "openai": ("openai_client", "async_openai_client", "compat_model"),
            "types": ("RequestOptions", "DlpInfo", "DlpFinding"),
        }.items()
        for name in names
    },
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _MOVED:
        module, instead = _MOVED[name]
        warnings.warn(
            f"cfgenai.{name} is deprecated and goes away in cfgenai 0.3.0; use {instead}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module 'cfgenai' has no attribute {name!r}")
