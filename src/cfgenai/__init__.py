"""google-genai through Cloudflare AI Gateway, configured from the environment.

``from cfgenai import client`` gives a ready ``genai.Client``, built on first use.
Importing this package builds nothing and reads no ``.env``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import ConfigError
from ._settings import GatewaySettings

if TYPE_CHECKING:
    from google import genai

    from ._client import build_client, reset_client

    client: genai.Client

__version__ = "0.1.0"
__all__ = [
    "ConfigError",
    "GatewaySettings",
    "__version__",
    "build_client",
    "client",
    "reset_client",
]


def __getattr__(name: str) -> Any:
    # google-genai is imported on first use, so `import cfgenai` stays cheap.
    if name == "client":
        from ._client import default_client

        return default_client()
    if name in ("build_client", "reset_client"):
        from . import _client

        return getattr(_client, name)
    raise AttributeError(f"module 'cfgenai' has no attribute {name!r}")
