"""Building google-genai clients that reach Gemini through Cloudflare AI Gateway."""

from __future__ import annotations

import functools
import inspect
import threading
from typing import Any

from google import genai
from google.genai import types

from ._errors import ConfigError
from ._settings import RETRY_STATUSES, VERTEX, GatewaySettings
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
    if _drops_key(settings) and not _aiohttp_has_middlewares():
        raise ConfigError(
            [
                "this configuration needs aiohttp 3.12 or newer when aiohttp is installed "
                "(google-genai then sends async requests with it, and cfgenai must keep the "
                "Google key off them); upgrade it: pip install 'aiohttp>=3.12'"
            ]
        )
    # An explicit DebugConfig keeps GOOGLE_GENAI_CLIENT_MODE from swapping in a replay client.
    debug = genai.client.DebugConfig(client_mode=None)
    if settings.provider == VERTEX:
        # No project, location or credentials: google-genai then adds no Authorization of its
        # own and keeps the collection-scoped base URL as the path's prefix.
        return _Client(vertexai=True, http_options=http_options(settings), debug_config=debug)
    key = settings.api_key if settings.resolved_mode == "key" else None
    return _Client(
        vertexai=False,
        api_key=key.get_secret_value() if key is not None else _BYOK_PLACEHOLDER,
        http_options=http_options(settings),
        debug_config=debug,
    )


def _drops_key(settings: GatewaySettings) -> bool:
    # Vertex AI never takes a Google API key here: google-genai would still send one it found
    # in GOOGLE_API_KEY, so it is dropped there too.
    return settings.resolved_mode == "byok" or settings.provider == VERTEX


class _Client(genai.Client):
    # google-genai's Client.__del__ closes the transport that its `models`, `aio`... share,
    # so `build_client().models.generate_content(...)` failed with "client has been closed"
    # once the unreferenced Client was collected mid-call. The transports close themselves
    # when they are collected, so skipping that early close leaks nothing.
    def __del__(self) -> None:
        pass


def http_options(settings: GatewaySettings) -> types.HttpOptions:
    """Fresh ``HttpOptions`` for ``settings`` (google-genai mutates the ones it is given)."""
    headers = settings.gateway_headers()
    if settings.provider == VERTEX and settings.resolved_mode == "key":
        assert settings.vertex_access_token is not None
        headers["Authorization"] = f"Bearer {settings.vertex_access_token.get_secret_value()}"
    options = types.HttpOptions(
        base_url=settings.provider_url,
        api_version=settings.api_version,
        headers=headers,
        timeout=round(settings.timeout * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.retries + 1, http_status_codes=list(RETRY_STATUSES)
        ),
    )
    if settings.provider == VERTEX:
        options.base_url_resource_scope = types.ResourceScope.COLLECTION
    options.client_args, options.async_client_args = client_args(
        drop_key=_drops_key(settings), share_tls=settings.provider != VERTEX
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
