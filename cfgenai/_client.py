"""Building google-genai clients that reach Gemini through Cloudflare AI Gateway."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import os
import threading
from collections.abc import AsyncIterator
from typing import Any

import google.auth.credentials
from google import genai
from google.genai import types

from . import _compat, _credentials, _wire
from ._checks import VERTEX
from ._credentials import AccessToken
from ._errors import ConfigError
from ._settings import RETRY_STATUSES, GatewaySettings, resolve
from ._tls import contexts
from ._transport import Gateway, LiveGateway, LoopPools, client_args

# google-genai refuses a Gemini API client without an API key. In byok mode it gets this
# placeholder, which every transport below removes before the request leaves: the gateway
# adds the stored key only when no provider key header is present at all.
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
    settings = resolve(settings, overrides)
    live = _wire.live_refusal(settings) or _live_gateway(_wire.live(settings))
    return _Client(live=live, **_shared_tls_kwargs(settings))


# Settings are frozen, and the environment's stay one object while it is unchanged: what
# build_client() hands google-genai is worked out once for each (and each set of TLS
# contexts), then copied for every client, since google-genai sets fields on its options.
_KWARGS: dict[tuple[int, object], tuple[GatewaySettings, dict[str, Any]]] = {}


def _shared_tls_kwargs(settings: GatewaySettings) -> dict[str, Any]:
    key = id(settings), contexts()
    known = _KWARGS.get(key)
    if known is None or known[0] is not settings:
        if len(_KWARGS) >= 16:
            _KWARGS.clear()
        known = _KWARGS[key] = settings, _kwargs(settings, share_tls=True)
    kwargs = dict(known[1])
    options = kwargs["http_options"]
    update: dict[str, Any] = {"headers": dict(options.headers)}
    if "transport" in options.async_client_args:  # each client its own pools (a copy is new)
        transport = copy.copy(options.async_client_args["transport"])
        update["async_client_args"] = {**options.async_client_args, "transport": transport}
    kwargs["http_options"] = options.model_copy(update=update)
    return kwargs


def client_kwargs(
    settings: GatewaySettings | None = None, *, credentials: Any = None, **overrides: Any
) -> dict[str, Any]:
    """Keyword arguments for ``genai.Client`` that send every request through the gateway.

    ``genai.Client(**client_kwargs())`` behaves on the wire as :func:`build_client` does, for
    frameworks that build their own clients (e.g. ADK's ``Gemini(client_kwargs=...)``). Its
    ``http_options`` copy, deep-copy and pickle, and ``to_json_dict()`` works on them (a JSON
    copy names the hooks but cannot run them). In key mode ``api_key`` holds the Google key:
    do not log the dict. Reads the same variables as :func:`build_client`; raises
    ``ConfigError``.
    """
    if credentials is not None:
        overrides["vertex_credentials"] = credentials
    return _kwargs(resolve(settings, overrides), share_tls=False)


def _kwargs(settings: GatewaySettings, *, share_tls: bool) -> dict[str, Any]:
    route = _wire.genai(settings)
    if route.drop and not _aiohttp_has_middlewares():
        raise ConfigError(
            [
                "this configuration needs aiohttp 3.12 or newer when aiohttp is installed "
                "(google-genai then sends async requests with it, and cfgenai must keep the "
                "Google key off them); upgrade it: pip install 'aiohttp>=3.12'"
            ]
        )
    options = http_options(settings, route, share_tls=share_tls)
    # An explicit DebugConfig keeps GOOGLE_GENAI_CLIENT_MODE from swapping in a replay client.
    debug = genai.client.DebugConfig(client_mode=None)
    if settings.provider == VERTEX:
        # With its project, location and credentials google-genai builds every path as against
        # Google (under the gateway's base URL) and sends the credentials' access token; in
        # byok mode that is a placeholder, which every transport removes.
        return {
            "vertexai": True,
            "project": settings.vertex_project,
            "location": settings.vertex_location,
            "credentials": _vertex_credentials(settings),
            "http_options": options,
            "debug_config": debug,
        }
    return {
        "vertexai": False,
        "api_key": route.key or _BYOK_PLACEHOLDER,
        "http_options": options,
        "debug_config": debug,
    }


class _Client(genai.Client):
    def __init__(self, *, live: LiveGateway | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _compat.set_aio_class(self, _AsyncClient)  # so that closing it is noticed too
        self.aio._live_gateway = live  # type: ignore[attr-defined]
        async_args = kwargs["http_options"].async_client_args or {}
        self.aio._pools = async_args.get("transport")  # type: ignore[attr-defined]

    # google-genai's Client.__del__ closes the transport that its `models`, `aio`... share,
    # so `build_client().models.generate_content(...)` failed with "client has been closed"
    # once the unreferenced Client was collected mid-call. The transports close themselves
    # when they are collected, so skipping that early close leaks nothing.
    def __del__(self) -> None:
        pass

    def close(self) -> None:
        super().close()
        _closed(_compat.api_client(self))


class _AsyncClient(genai.client.AsyncClient):
    _live_gateway: LiveGateway | str  # set by _Client; a str says why Live is refused
    _pools: LoopPools | None  # this client's own, where cfgenai keeps a pool per event loop

    async def aclose(self) -> None:
        if self._pools is None:
            await super().aclose()
        else:  # its pools close; it stays usable, as google-genai 3.x's own pools leave it
            await self._pools.close_pools()
        if _closed(_compat.api_client(self)):
            # `cfgenai.client` no longer leads to it: its sync pool would wait for the collector.
            _compat.api_client(self).close()

    @property
    def live(self) -> genai.live.AsyncLive:
        """The Live API, on the gateway's ``{root}/google`` route (see ``_wire.live``)."""
        live = _Live(_compat.api_client(self))
        live.gateway = self._live_gateway
        return live


class _Live(genai.live.AsyncLive):
    gateway: LiveGateway | str

    @contextlib.asynccontextmanager
    async def connect(
        self, *, model: str, config: types.LiveConnectConfigOrDict | None = None
    ) -> AsyncIterator[genai.live.AsyncSession]:
        if isinstance(self.gateway, str):
            raise ConfigError([self.gateway])
        with self.gateway.chosen():
            async with super().connect(model=model, config=config) as session:
                yield session


def http_options(
    settings: GatewaySettings, route: _wire.Route, *, share_tls: bool = True
) -> types.HttpOptions:
    """Fresh ``HttpOptions`` for ``settings`` and their ``route`` (google-genai mutates the
    ones it is given).

    ``share_tls`` hands cfgenai's shared TLS contexts over (same trust store as google-genai's
    own, loaded once); without them the options copy, pickle and serialise.
    """
    options = types.HttpOptions(
        base_url=route.url,
        api_version=settings.api_version,
        headers=route.headers,
        timeout=round(settings.timeout * 1000),
        retry_options=types.HttpRetryOptions(
            attempts=settings.retries + 1, http_status_codes=list(RETRY_STATUSES)
        ),
    )
    gateway = Gateway(route.url, tuple(route.credentials.items()))
    options.client_args, options.async_client_args = client_args(
        gateway,
        drop=route.drop,
        rotating=route.rotating,
        share_tls=share_tls and settings.provider != VERTEX,
        otel=settings.otel,
    )
    return options


def _live_gateway(route: _wire.Route) -> LiveGateway:
    return LiveGateway(route.url, route.key, route.rotating, tuple(route.credentials.items()))


def _vertex_credentials(settings: GatewaySettings) -> google.auth.credentials.Credentials:
    """What google-genai gets as credentials for Vertex AI: in byok mode a placeholder token,
    which every transport removes; else the access token, or the credentials whose token
    cfgenai refreshes (see ``_credentials``)."""
    if settings.resolved_mode == "byok":
        return AccessToken(_BYOK_PLACEHOLDER)
    if settings.vertex_credentials is not None:
        return _credentials.shared(settings.vertex_credentials)
    assert settings.vertex_access_token is not None
    path = settings._files.get("vertex_access_token")
    return AccessToken(settings.vertex_access_token.get_secret_value(), path)


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
# What the shared client was built from, and the last one let go by recycle_client() with it.
_shared_source: tuple[GatewaySettings, frozenset[tuple[str, str]]] | None = None
_spare: tuple[tuple[GatewaySettings, frozenset[tuple[str, str]]], genai.Client] | None = None


def shared_client() -> genai.Client:
    """The real ``genai.Client`` behind ``cfgenai.client``, built from the environment on first
    use and rebuilt after :func:`reset_client`, after it was closed, and in a forked child."""
    global _shared_source, _spare
    with _shared_lock:
        if _shared is None:
            settings = resolve(None, {})  # its warnings are given on every build
            source = settings, _environment()
            if _spare is not None and _spare[0][0] is settings and _spare[0][1] == source[1]:
                _share(_spare[1])
            else:
                _share(build_client(settings))
            _shared_source, _spare = source, None
        assert _shared is not None
        return _shared


def _environment() -> frozenset[tuple[str, str]]:
    # Everything google-genai and its HTTP libraries read too (proxies, trust store...), but
    # the variable pytest changes for every test.
    return frozenset(item for item in os.environ.items() if item[0] != "PYTEST_CURRENT_TEST")


def reset_client() -> None:
    """Forget the shared client: the next use of ``cfgenai.client`` (through any reference to
    it) builds a new one from the environment as it is then."""
    global _spare
    with _shared_lock:
        _share(None)
        _spare = None


def recycle_client() -> None:
    """:func:`reset_client`, except that the next use takes the client back, instead of
    building an equal one, when the environment (and ``.env``) is then exactly what it was
    built from. For the ``cf_gateway`` fixture, whose emulator closes every connection on
    reset, so that tests share the client's set-up but no connection (its async side keeps
    one pool per event loop, so the next test's loop gets its own)."""
    global _spare
    with _shared_lock:
        if _shared is not None and _shared_source is not None:
            _spare = _shared_source, _shared
        _share(None)


async def aclose_client() -> None:
    """Close the shared client's connections, if it was built, and forget it.

    For an app's shutdown: it never builds a client, so it works without configuration too.
    """
    with _shared_lock:
        closing = _shared
        _share(None)
    if closing is not None:
        closing.close()
        await closing.aio.aclose()


def _share(new: genai.Client | None) -> None:
    # The proxy shares the current client's instance dictionary, where genai.Client keeps all
    # of its state: every attribute then runs exactly the code it runs on the client itself,
    # at the same speed, and rebinding the dictionary moves every reference to `client` at
    # once. An empty one sends the next use to SharedClient.__getattr__, which builds.
    global _shared
    _shared = new
    _compat.share_state(client, new)


def _closed(api_client: object) -> bool:
    # Called when a client (or its `aio`) is closed: if it is the shared one (or the spare),
    # the next use builds a new one. Says whether it was let go.
    global _spare
    with _shared_lock:
        shared = _shared is not None and _compat.api_client(_shared) is api_client
        spare = _spare is not None and _compat.api_client(_spare[1]) is api_client
        if shared:
            _share(None)
        if spare:
            _spare = None
        return shared or spare


def _after_fork_in_child() -> None:
    # The parent's client holds pooled keep-alive sockets that the parent goes on using: a
    # child must never read or write them. Keep it, unused and uncollected, and start afresh.
    global _shared_lock, _spare
    _inherited.extend(c for c in (_shared, _spare and _spare[1]) if c is not None)
    _shared_lock = threading.Lock()
    _spare = None
    _share(None)


class SharedClient(_Client):
    """``cfgenai.client``: stands for the shared ``genai.Client``, whichever is current.

    A ``genai.Client`` for ``isinstance`` and type checkers, made without running
    ``genai.Client.__init__``: nothing is read or built until it is used.
    """

    def __init__(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        # Only reached when the attribute is missing: before the first use, after a reset, or
        # for a name that the client does not have either (then getattr raises). Probes for
        # special names (copy, display and framework hooks) build nothing.
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
