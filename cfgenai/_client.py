"""Building google-genai clients that reach Gemini through Cloudflare AI Gateway, and the
shared ``cfgenai.client``."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

from google import genai
from google.genai import types

from . import _compat, _credentials, _plan, _websocket
from ._credentials import AccessToken
from ._errors import ConfigError
from ._rotation import Secret
from ._settings import RETRY_STATUSES, GatewaySettings, resolve
from ._transport import LoopPools, client_args

# google-genai refuses a Gemini API client without an API key. In byok mode it gets this
# placeholder, which every transport removes before the request leaves: the gateway adds the
# stored key only when no provider key header is present at all.
_BYOK_PLACEHOLDER = "cfgenai-byok-no-provider-key"


def build_client(
    settings: GatewaySettings | None = None, *, credentials: Any = None, **overrides: Any
) -> genai.Client:
    """A new ``genai.Client`` that sends every request through the gateway.

    ``settings`` defaults to ``GatewaySettings()`` (environment and ``.env``); ``overrides``
    are settings fields, e.g. ``build_client(gateway_id="prod")``; ``credentials`` are
    ``google.auth`` credentials for Vertex AI, whose token cfgenai sends and refreshes.
    Raises ``ConfigError``.
    """
    if credentials is not None:
        overrides["vertex_credentials"] = credentials
    plan = _plan.plan(resolve(settings, overrides))
    return _Client(live=plan.live, **_kwargs(plan, share_tls=True))


def client_kwargs(
    settings: GatewaySettings | None = None, *, credentials: Any = None, **overrides: Any
) -> dict[str, Any]:
    """Keyword arguments for ``genai.Client`` that send every request through the gateway,
    for frameworks that build their own clients (ADK's ``Gemini(client_kwargs=...)``).

    Takes what :func:`build_client` takes; such a client acts as one from it, but refuses
    Live. Its ``http_options`` copy, pickle and serialise. In key mode ``api_key`` holds the
    Google key: do not log the dict. Raises ``ConfigError``.
    """
    if credentials is not None:
        overrides["vertex_credentials"] = credentials
    return _kwargs(_plan.plan(resolve(settings, overrides)), share_tls=False)


def _kwargs(plan: _plan.Plan, *, share_tls: bool) -> dict[str, Any]:
    route, vertex = plan.genai, plan.vertex
    if route.drop and not _aiohttp_has_middlewares():
        raise ConfigError(
            [
                "this configuration needs aiohttp 3.12 or newer when aiohttp is installed "
                "(google-genai then sends async requests with it, and cfgenai must keep the "
                "Google key off them); upgrade it: pip install 'aiohttp>=3.12'"
            ]
        )
    # Every WebSocket google-genai opens from now on passes the guard (see _websocket).
    _websocket.install(plan.gateway_root, [*route.secrets(), _BYOK_PLACEHOLDER])
    kwargs: dict[str, Any] = {
        "vertexai": vertex is not None,
        "http_options": http_options(plan, share_tls=share_tls and vertex is None),
        # An explicit DebugConfig keeps GOOGLE_GENAI_CLIENT_MODE from swapping in a replay client.
        "debug_config": genai.client.DebugConfig(client_mode=None),
    }
    if vertex is None:
        kwargs["api_key"] = route.key.first if route.key else _BYOK_PLACEHOLDER
    else:
        # With these google-genai builds every path as against Google, under the gateway, and
        # sends the credentials' token: the one cfgenai refreshes, the access token, or in
        # byok mode a placeholder that every transport removes.
        kwargs["project"], kwargs["location"] = vertex.project, vertex.location
        kwargs["credentials"] = (
            _credentials.shared(vertex.credentials)
            if vertex.credentials is not None
            else AccessToken(vertex.token or Secret(_BYOK_PLACEHOLDER))
        )
    return kwargs


class _Client(genai.Client):
    def __init__(self, *, live: _plan.Route | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _compat.set_aio_class(self, _AsyncClient)  # so that closing it is noticed too
        self.aio._live_route = live  # type: ignore[attr-defined]
        async_args = kwargs["http_options"].async_client_args or {}
        self.aio._pools = async_args.get("transport")  # type: ignore[attr-defined]

    # genai.Client.__del__ closes the transport its `models` shares: `build_client().models.
    # generate_content()` failed mid-call. The transports close themselves when collected.
    def __del__(self) -> None:
        pass

    def close(self) -> None:
        super().close()
        _closed(_compat.api_client(self))


class _AsyncClient(genai.client.AsyncClient):
    _live_route: _plan.Route | str  # set by _Client; a str says why Live is refused
    _pools: LoopPools | None  # this client's own, where cfgenai keeps a pool per event loop

    async def aclose(self) -> None:
        if self._pools is None:
            await super().aclose()
        else:  # its pools close; it stays usable, as google-genai 3.x's own pools leave it
            await self._pools.close_pools()
        if _closed(_compat.api_client(self)):
            # Nothing leads to it now: its sync pool would wait for the collector.
            _compat.api_client(self).close()

    @property
    def live(self) -> genai.live.AsyncLive:
        """The Live API, on the gateway's ``{root}/google`` route (see ``_plan``)."""
        live = _Live(_compat.api_client(self))
        live.route = self._live_route
        return live


class _Live(genai.live.AsyncLive):
    route: _plan.Route | str

    @contextlib.asynccontextmanager
    async def connect(
        self, *, model: str, config: types.LiveConnectConfigOrDict | None = None
    ) -> AsyncIterator[genai.live.AsyncSession]:
        if isinstance(self.route, str):
            raise ConfigError([self.route])
        entered = False
        try:
            with _websocket.live_route(self.route):
                async with super().connect(model=model, config=config) as session:
                    entered = True
                    yield session
        except Exception as exc:
            # A refused handshake raises the gateway's error, not websockets' InvalidStatus.
            response = getattr(exc, "response", None)
            if entered or not hasattr(response, "status_code"):
                raise
            from ._responses import handshake_error

            raise handshake_error(response, self.route.url) from None


def http_options(plan: _plan.Plan, *, share_tls: bool = True) -> types.HttpOptions:
    """Fresh ``HttpOptions`` for ``plan`` (google-genai mutates the ones it is given);
    ``share_tls`` hands over the process's TLS contexts, which do not pickle."""
    options = types.HttpOptions(
        base_url=plan.genai.url,
        api_version=plan.api_version,
        headers=dict(plan.genai.headers),
        timeout=round(plan.timeout * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=plan.retries + 1, http_status_codes=list(RETRY_STATUSES)
        ),
    )
    options.client_args, options.async_client_args = client_args(
        plan.genai, otel=plan.otel, share_tls=share_tls
    )
    return options


@functools.cache
def _aiohttp_has_middlewares() -> bool:
    try:
        import aiohttp
    except ImportError:
        return True  # google-genai will use httpx, which the event hooks cover
    return "middlewares" in inspect.signature(aiohttp.ClientSession._request).parameters


# The shared client behind `cfgenai.client`; everything that changes it holds the lock.
_shared: genai.Client | None = None
_shared_lock = threading.Lock()
_inherited: list[genai.Client] = []  # a parent's clients, kept unused (and uncollected) in a child


def shared_client() -> genai.Client:
    """The real ``genai.Client`` behind ``cfgenai.client``, built from the environment when
    none is current (first use, :func:`reset_client`, closed, forked)."""
    with _shared_lock:
        if _shared is None:
            _share(build_client())
        assert _shared is not None
        return _shared


def reset_client() -> None:
    """Forget the shared client: the next use of ``cfgenai.client`` builds a new one from the
    environment as it is then."""
    with _shared_lock:
        _share(None)


async def aclose_client() -> None:
    """Close the shared client's connections, if it was built, and forget it (for an app's
    shutdown: it never builds a client)."""
    with _shared_lock:
        closing = _shared
        _share(None)
    if closing is not None:
        closing.close()
        await closing.aio.aclose()


def _share(new: genai.Client | None) -> None:
    # The proxy shares the client's instance dictionary, where genai.Client keeps all of its
    # state: every attribute runs the client's own code, and an empty one builds on next use.
    global _shared
    _shared = new
    _compat.share_state(client, new)


def _closed(api_client: object) -> bool:
    # A client (or its `aio`) was closed: if it is the shared one, let it go (and say so).
    with _shared_lock:
        shared = _shared is not None and _compat.api_client(_shared) is api_client
        if shared:
            _share(None)
        return shared


def _after_fork_in_child() -> None:
    # The parent goes on using its client's pooled sockets: keep it, unused and uncollected.
    global _shared_lock
    if _shared is not None:
        _inherited.append(_shared)
    _shared_lock = threading.Lock()
    _share(None)


class SharedClient(_Client):
    """``cfgenai.client``: a ``genai.Client`` that stands for the shared one, whichever is
    current; nothing is read or built until it is used."""

    def __init__(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # Not built yet (or a name the client lacks). Probes for special names build nothing.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return getattr(shared_client(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(shared_client(), name, value)

    def __repr__(self) -> str:
        current = _shared
        built = "not built yet" if current is None else f"now {object.__repr__(current)}"
        return f"<cfgenai.client: the shared genai.Client, {built}>"


client = SharedClient()
os.register_at_fork(after_in_child=_after_fork_in_child)


for _public in (build_client, client_kwargs, reset_client, aclose_client):
    _public.__module__ = "cfgenai"
