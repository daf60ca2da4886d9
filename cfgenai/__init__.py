"""google-genai through Cloudflare AI Gateway, configured from the environment.

``from cfgenai import client`` gives a ready ``genai.Client``, built on first use.
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

    from ._client import build_client, reset_client
    from ._openai import async_openai_client, compat_model, openai_client
    from ._responses import GatewayError, GatewayInfo, gateway_info

    client: genai.Client

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "GatewayError",
    "GatewayInfo",
    "GatewayOptions",
    "GatewaySettings",
    "RequestOptions",
    "__version__",
    "async_openai_client",
    "build_client",
    "client",
    "compat_model",
    "gateway_info",
    "openai_client",
    "request_options",
    "reset_client",
]

# Names whose modules import google-genai, loaded on first use to keep `import cfgenai` cheap.
_LAZY = {
    "build_client": "_client",
    "reset_client": "_client",
    "GatewayError": "_responses",
    "GatewayInfo": "_responses",
    "gateway_info": "_responses",
    "openai_client": "_openai",
    "async_openai_client": "_openai",
    "compat_model": "_openai",
}


def __getattr__(name: str) -> Any:
    if name == "client":
        from ._client import default_client

        return default_client()
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'cfgenai' has no attribute {name!r}")
