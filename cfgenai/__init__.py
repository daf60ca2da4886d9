"""google-genai through Cloudflare AI Gateway, configured from the environment.

``from cfgenai import client`` gives the shared ``genai.Client``, built on first use; importing
cfgenai builds nothing and reads nothing. See also ``cfgenai.logs``, ``cfgenai.openai``,
``cfgenai.types`` and ``cfgenai.testing``."""

from __future__ import annotations

__version__ = "0.1.0"  # first: the modules below name it in the User-Agent

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import ConfigError, GatewayTimeout, GatewayUnreachable
from ._options import request_options
from ._settings import GatewaySettings

if TYPE_CHECKING:
    from google import genai

    from ._client import aclose_client, build_client, client_kwargs, reset_client
    from ._google_errors import GatewayError, OffGatewayError, RedirectError
    from ._responses import GatewayInfo, gateway_info

    client: genai.Client
    """The shared ``genai.Client``, built from the environment on first use; built anew after
    ``reset_client``, after it is closed and in a forked child."""

__all__ = [
    "ConfigError",
    "GatewayError",
    "GatewayInfo",
    "GatewaySettings",
    "GatewayTimeout",
    "GatewayUnreachable",
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


def __getattr__(name: str) -> Any:
    if name in __all__:  # the public names whose modules import google-genai: on first use
        for module in ("_google_errors", "_responses", "_client"):
            if hasattr(found := importlib.import_module(f".{module}", __name__), name):
                globals()[name] = getattr(found, name)  # later lookups find it at once
                return globals()[name]
    raise AttributeError(f"module 'cfgenai' has no attribute {name!r}")
