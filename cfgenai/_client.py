"""google-genai clients that reach Gemini through the gateway, and the shared ``cfgenai.client``."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from google import genai

from . import _compat, _credentials, _plan, _websocket
from ._credentials import AccessToken
from ._errors import ConfigError
from ._rotation import Secret
from ._settings import RETRY_STATUSES, GatewaySettings, resolve
from ._transport import LoopPools, client_args

# google-genai insists on an API key: in byok mode it gets this one, which every transport
# removes (the gateway adds its stored key only to a request carrying no provider key).
_BYOK_PLACEHOLDER = "cfgenai-byok-no-provider-key"


def build_client(
    settings: GatewaySettings | None = None, *, credentials: Any = None, **overrides: Any
) -> genai.Client:
    """A new ``genai.Client`` that sends every request through the gateway; raises ``ConfigError``.
    ``settings`` defaults to ``GatewaySettings()`` (environment, ``.env``); ``overrides`` are its
    fields (``gateway_id="prod"``); ``credentials``: Vertex AI's (``google.auth``), kept fresh."""
    kwargs, live = _arguments(settings, overrides, credentials, share_tls=True)
    client = _Client(**kwargs)
    aio = _compat.set_aio_class(client, _AsyncClient)  # so that closing it is noticed too
    aio._live_route, aio._pools = live, kwargs["http_options"].async_client_args.get("transport")
    return client


def client_kwargs(
    settings: GatewaySettings | None = None, *, credentials: Any = None, **overrides: Any
) -> dict[str, Any]:
    """``build_client``'s arguments for a framework's own ``genai.Client`` (ADK's ``client_kwargs``:
    no Live); they copy, pickle and serialise. ``api_key`` may be the Google key: never log it."""
    return _arguments(settings, overrides, credentials, share_tls=False)[0]


def _arguments(
    settings: GatewaySettings | None, overrides: dict[str, Any], credentials: Any, share_tls: bool
) -> tuple[dict[str, Any], _plan.Route | str]:
    """``genai.Client``'s keyword arguments, and the Live route (a str: why there is none)."""
    if credentials is not None:
        overrides["vertex_credentials"] = credentials
    plan = _plan.plan(resolve(settings, overrides))
    route, vertex = plan.genai, plan.vertex
    aiohttp = sys.modules.get("aiohttp")  # google-genai imports it when it is installed
    if route.drop and aiohttp and not hasattr(aiohttp, "ClientMiddlewareType"):  # before 3.12
        needs = "aiohttp 3.12 or newer, whose middlewares keep the Google key off async requests"
        raise ConfigError([f"this configuration needs {needs}: pip install 'aiohttp>=3.12'"])
    _websocket.install(plan.gateway_root, [*route.secrets(), _BYOK_PLACEHOLDER])
    # google-genai mutates the HttpOptions it is given: fresh ones for each client.
    kwargs: dict[str, Any] = {
        "vertexai": vertex is not None,
        "http_options": genai.types.HttpOptions(
            base_url=route.url,
            api_version=plan.api_version,
            headers={**route.headers, "user-agent": _plan.USER_AGENT},  # google-genai's goes first
            timeout=round(plan.timeout * 1000),
            # google-genai 2.x takes a delay of 0 for its default: a microsecond is none.
            retry_options=genai.types.HttpRetryOptions(
                attempts=plan.retries + 1,
                http_status_codes=list(RETRY_STATUSES),
                initial_delay=max(plan.retry_delay, 1e-6),
                jitter=max(plan.retry_delay, 1e-6),
            ),
            **client_args(
                route,
                plan.otel,
                share_tls=share_tls and vertex is None,
                attempts=plan.retries + 1,
                timeout=plan.timeout,
            ),
        ),
        # An explicit DebugConfig keeps GOOGLE_GENAI_CLIENT_MODE from swapping in a replay client.
        "debug_config": genai.client.DebugConfig(client_mode=None),
    }
    if vertex is None:
        kwargs["api_key"] = route.key.first if route.key else _BYOK_PLACEHOLDER
    else:
        # google-genai builds Vertex AI paths under the gateway and sends these credentials' token.
        kwargs["project"], kwargs["location"] = vertex.project, vertex.location
        if vertex.credentials is None:
            kwargs["credentials"] = AccessToken(route.key or Secret(_BYOK_PLACEHOLDER))
        else:
            kwargs["credentials"] = _credentials.shared(vertex.credentials)
    return kwargs, plan.live


class _Client(genai.Client):
    # genai.Client.__del__ closes the transport its `models` shares: `build_client().models.
    # generate_content()` failed mid-call. The transports close themselves when collected.
    def __del__(self) -> None:
        pass

    def close(self) -> None:
        super().close()
        _closed(_compat.api_client(self))


class _AsyncClient(genai.client.AsyncClient):
    _live_route: _plan.Route | str  # set by build_client; a str says why Live is refused
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
        live = _websocket.RoutedLive(_compat.api_client(self))
        live.route = self._live_route
        return live


# The shared client behind `cfgenai.client` and the environment() it was built in; a spare (from
# cf_gateway's last test) is taken instead of building one in the environment it was built in.
# Everything that changes them holds the lock.
Built = tuple[genai.Client, int]
_shared: genai.Client | None = None
_environ = 0
_spare: Built | None = None
_shared_lock = threading.Lock()
_inherited: list[object] = []  # a parent's clients: kept, so a child never closes their sockets


def shared_client() -> genai.Client:
    """The ``genai.Client`` behind ``cfgenai.client``, built from the environment if none is."""
    global _spare
    with _shared_lock:
        if _shared is None:
            spare, _spare, now = _spare, None, environment()
            _share(*(spare if spare and spare[1] == now else (build_client(), now)))
        assert _shared is not None
        return _shared


def environment() -> int:
    """The environment as a number, the same for the same variables (pytest's name of the
    current test aside); it keeps none of their values."""
    # Read encoded, as the OS holds them (decoding each costs 15 times more), and never kept
    # in a local, where a crash reporter would find them.
    test = os.environ.encodekey("PYTEST_CURRENT_TEST")
    current = (test, vars(os.environ)["_data"].get(test))
    return hash(frozenset(vars(os.environ)["_data"].items()) - {current})


def reset_client() -> None:
    """Forget the shared client: the next use of ``cfgenai.client`` builds a new one."""
    swap(None)


def swap(spare: Built | None) -> Built | None:
    """Forget the shared client; the next use takes ``spare`` (a client, the environment it was
    built in) if the environment is the same then. Returns the client forgotten (else the spare
    left unused) and its environment, if any."""
    global _spare
    with _shared_lock:
        old = _spare if _shared is None else (_shared, _environ)
        _share(None)
        _spare = spare
        return old


async def aclose_client() -> None:
    """Close the shared client's connections (if built: it builds none) and forget it."""
    with _shared_lock:
        closing = _share(None)
    if closing is not None:
        closing.close()
        await closing.aio.aclose()


def _share(new: genai.Client | None, environ: int = 0) -> genai.Client | None:
    global _shared, _environ
    old, _shared, _environ = _shared, new, environ
    _compat.share_state(client, new)
    return old


def _closed(api_client: object) -> bool:
    # A client (or its `aio`) was closed: if it is the shared one, let it go (and say so).
    with _shared_lock:
        shared = _shared is not None and _compat.api_client(_shared) is api_client
        if shared:
            _share(None)
        return shared


def _after_fork_in_child() -> None:
    global _shared_lock
    _shared_lock = threading.Lock()
    _inherited.append(swap(None))


class SharedClient(_Client):
    """``cfgenai.client``: stands for the current shared ``genai.Client``, built on first use."""

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
        built = "not built yet" if _shared is None else f"now {object.__repr__(_shared)}"
        return f"<cfgenai.client: the shared genai.Client, {built}>"


client = SharedClient()
os.register_at_fork(after_in_child=_after_fork_in_child)
for _public in (build_client, client_kwargs, reset_client, aclose_client):
    _public.__module__ = "cfgenai"
