"""Building google-genai clients that reach Gemini through Cloudflare AI Gateway."""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any

from google import genai
from google.genai import types

from ._errors import ConfigError
from ._settings import RETRY_STATUSES, GatewaySettings
from ._transport import client_args

# google-genai refuses a Gemini API client without an API key. In byok mode it gets this
# placeholder, which every transport below removes before the request leaves: the gateway
# adds the stored key only when no provider key header is present at all.
_BYOK_PLACEHOLDER = "cfgenai-byok-no-provider-key"


def build_client(settings: GatewaySettings | None = None, **overrides: Any) -> genai.Client:
    """A new ``genai.Client`` that sends every request through the gateway.

    ``settings`` defaults to ``GatewaySettings()`` (environment and ``.env``); ``overrides``
    are settings fields, e.g. ``build_client(gateway_id="prod")``. Raises ``ConfigError``.
    """
    if settings is None:
        settings = GatewaySettings(**overrides)
    elif overrides:
        settings = settings._replace(**overrides)
    byok = settings.resolved_mode == "byok"
    if byok and not _aiohttp_has_middlewares():
        raise ConfigError(
            [
                "byok mode needs aiohttp 3.12 or newer when aiohttp is installed (google-genai "
                "then sends async requests with it); upgrade it: pip install 'aiohttp>=3.12'"
            ]
        )
    api_key = _BYOK_PLACEHOLDER if byok or not settings.api_key else settings.api_key
    return _Client(
        vertexai=False,
        api_key=api_key if isinstance(api_key, str) else api_key.get_secret_value(),
        http_options=http_options(settings),
        # An explicit DebugConfig keeps GOOGLE_GENAI_CLIENT_MODE from swapping in a replay client.
        debug_config=genai.client.DebugConfig(client_mode=None),
    )


class _Client(genai.Client):
    # google-genai's Client.__del__ closes the transport that its `models`, `aio`... share,
    # so `build_client().models.generate_content(...)` failed with "client has been closed"
    # once the unreferenced Client was collected mid-call. The transports close themselves
    # when they are collected, so skipping that early close leaks nothing.
    def __del__(self) -> None:
        pass


def http_options(settings: GatewaySettings) -> types.HttpOptions:
    """Fresh ``HttpOptions`` for ``settings`` (google-genai mutates the ones it is given)."""
    headers = settings.headers()
    if settings.token is not None:
        headers["cf-aig-authorization"] = f"Bearer {settings.token.get_secret_value()}"
    options = types.HttpOptions(
        base_url=settings.provider_url,
        api_version=settings.api_version,
        headers=headers,
        timeout=round(settings.timeout * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.retries + 1, http_status_codes=list(RETRY_STATUSES)
        ),
    )
    options.client_args, options.async_client_args = client_args(
        drop_key=settings.resolved_mode == "byok"
    )
    return options


@functools.cache
def _aiohttp_has_middlewares() -> bool:
    try:
        import aiohttp
    except ImportError:
        return True  # google-genai will use httpx, which the event hooks cover
    return "middlewares" in inspect.signature(aiohttp.ClientSession._request).parameters


_default: genai.Client | None = None
_default_lock = threading.Lock()


def default_client() -> genai.Client:
    """The shared client behind ``cfgenai.client``, built once on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = build_client()
        return _default


def reset_client() -> None:
    """Forget the shared client, so the next ``cfgenai.client`` reads the environment again."""
    global _default
    with _default_lock:
        _default = None
