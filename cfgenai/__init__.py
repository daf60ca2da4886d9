"""google-genai through Cloudflare AI Gateway, configured from the environment.

``from cfgenai import client`` gives a ``genai.Client`` that stands for the shared client,
built from the environment when it is first used (not when it is imported).
Importing this package builds nothing, reads no ``.env`` and does not import google-genai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._options import GatewayOptions, RequestOptions, request_options
from ._settings import GatewaySettings

if TYPE_CHECKING:
    from google import genai

    from ._client import aclose_client, build_client, client_kwargs, reset_client, shared_client
    from ._logs import CloudflareAPIError, LogEntry, afeedback, aget_log, feedback, get_log
    from ._openai import async_openai_client, compat_model, openai_client
    from ._responses import (
        DlpFinding,
        DlpInfo,
        GatewayError,
        GatewayInfo,
        OffGatewayError,
        RedirectError,
        gateway_info,
    )

    client: genai.Client

__version__ = "0.1.0"
__all__ = [
    "CloudflareAPIError",
    "ConfigError",
    "DlpFinding",
    "DlpInfo",
    "GatewayError",
    "GatewayInfo",
    "GatewayOptions",
    "GatewaySettings",
    "LogEntry",
    "OffGatewayError",
    "RedirectError",
    "RequestOptions",
    "__version__",
    "aclose_client",
    "afeedback",
    "aget_log",
    "async_openai_client",
    "build_client",
    "client",
    "client_kwargs",
    "compat_model",
    "feedback",
    "gateway_info",
    "get_log",
    "openai_client",
    "request_options",
    "reset_client",
    "shared_client",
]

# Names whose modules import google-genai, loaded on first use to keep `import cfgenai` cheap.
_LAZY = {
    "client": "_client",
    "build_client": "_client",
    "client_kwargs": "_client",
    "shared_client": "_client",
    "reset_client": "_client",
    "aclose_client": "_client",
    "GatewayError": "_responses",
    "DlpInfo": "_responses",
    "DlpFinding": "_responses",
    "get_log": "_logs",
    "aget_log": "_logs",
    "feedback": "_logs",
    "afeedback": "_logs",
    "LogEntry": "_logs",
    "CloudflareAPIError": "_logs",
    "GatewayInfo": "_responses",
    "RedirectError": "_responses",
    "OffGatewayError": "_responses",
    "gateway_info": "_responses",
    "openai_client": "_openai",
    "async_openai_client": "_openai",
    "compat_model": "_openai",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'cfgenai' has no attribute {name!r}")
