"""The guard on every WebSocket google-genai opens, and Live on its route (docs/routes.md)."""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import sys
import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from google import genai
from websockets.asyncio.client import connect

from ._errors import ConfigError, Reach, host_port
from ._plan import Route
from ._responses import handshake_error
from ._secrets import fingerprint, mask, printable

_STATE = "_cfgenai_guard"  # on websockets' connect class: one guard for every import of cfgenai
_installing = threading.Lock()
_KNOWN = {  # the routes Cloudflare does not document, named for the refusal's message
    "BidiGenerateMusic": "the Live Music API",
    "/interactions/live": "Live Interactions",
    "BidiGenerateContent": "the Live API on this provider",
}
_ONLY_LIVE = (
    "cfgenai opened no connection and sent no credential. Cloudflare documents the Live API alone "
    "({root}/google, a google-ai-studio client's client.aio.live); see cfgenai's docs/routes.md"
)


@dataclass
class _Guard:
    live: contextvars.ContextVar[Route | None]
    # Replaced whole, never changed in place: a thread may be reading them.
    gateways: frozenset[str] = frozenset()  # "host:port/root path", scheme-free
    credentials: frozenset[str] = frozenset()  # the fingerprint of each credential


def install(gateway_root: str, secrets: Iterable[str]) -> None:
    """Guard websockets' ``connect`` (once per process), knowing a gateway and its credentials."""
    guard = _guard()
    with _installing:  # two clients built at once: each adds its own
        guard.gateways |= {_where(gateway_root)}
        guard.credentials |= {fingerprint(s) for s in secrets if s}


class RoutedLive(genai.live.AsyncLive):
    """google-genai's Live API, connecting on ``route`` (a str: why Live is refused)."""

    route: Route | str

    @contextlib.asynccontextmanager
    async def connect(self, **kwargs: Any) -> AsyncIterator[genai.live.AsyncSession]:
        if isinstance(self.route, str):
            raise ConfigError([self.route])
        live, entered = _guard().live, False
        token = live.set(self.route)  # for the WebSocket google-genai opens now
        try:
            async with super().connect(**kwargs) as session:
                entered = True
                yield session
        except Exception as exc:
            # A refused handshake raises the gateway's error, not websockets' InvalidStatus.
            response = getattr(exc, "response", None)
            if entered:
                raise
            if not hasattr(response, "status_code"):  # no answer: the handshake's transport
                with Reach(host_port(self.route.url), 1):
                    raise
            raise handshake_error(response, self.route.url) from None
        finally:
            live.reset(token)


def _guard() -> _Guard:
    with _installing:
        if _STATE in connect.__dict__:
            return connect.__dict__[_STATE]  # type: ignore[no-any-return]
        guard = _Guard(contextvars.ContextVar("cfgenai_live", default=None))
        original = connect.__init__
        has_proxy = "proxy" in inspect.signature(original).parameters

        def __init__(self: Any, uri: str, *args: Any, **kwargs: Any) -> None:
            routed = False  # other WebSockets than google-genai's are none of cfgenai's business
            if sys._getframe(1).f_globals.get("__name__", "").startswith("google.genai"):
                uri, routed = _checked(guard, uri, kwargs, has_proxy)
            original(self, uri, *args, **kwargs)
            if routed:  # a redirect is raised, never followed: it would carry the credentials
                self.process_redirect = lambda exc: exc

        connect.__init__ = __init__  # type: ignore[method-assign]
        setattr(connect, _STATE, guard)
        return guard


def _checked(guard: _Guard, uri: str, kwargs: dict[str, Any], has_proxy: bool) -> tuple[str, bool]:
    """The URI to open and whether cfgenai routed it (``kwargs`` changed); raises to refuse."""
    if (route := guard.live.get()) is None:
        where = _where(uri)
        if any(where == g or where.startswith(g + "/") for g in guard.gateways):
            raise _refusal(uri, "Cloudflare AI Gateway documents no such WebSocket route")
        headers = kwargs.get("additional_headers") or kwargs.get("extra_headers") or {}
        items = headers.items() if hasattr(headers, "items") else headers
        values = [str(v) for _, v in items] + [v for _, v in parse_qsl(urlsplit(uri).query)]
        values += [v.partition(" ")[2] for v in values]  # and a Bearer credential alone
        if any(fingerprint(v) in guard.credentials for v in values):
            raise _refusal(uri, "it is not the configured gateway, and would carry its credentials")
        return uri, False
    guard.live.set(None)  # one connection per Live session
    route.leaving()
    if not urlsplit(uri).path.endswith(".GenerativeService.BidiGenerateContent"):
        raise _refusal(uri, "it is not the Live API's, the one route cfgenai's Live opens")
    url = f"{route.url}?{urlencode({'api_key': route.key.value()})}" if route.key else route.url
    headers = dict(kwargs.get("additional_headers") or {})
    headers = {k: v for k, v in headers.items() if k.lower() not in route.drop}
    kwargs["additional_headers"] = {**headers, **route.credential_headers()}
    if url.startswith("ws:"):
        kwargs.pop("ssl", None)  # websockets refuses a TLS context for ws://
    if has_proxy and route.direct:
        kwargs["proxy"] = None  # websockets 15 and later follow the proxy variables
    # websockets logs the request line and every header at DEBUG level.
    kwargs["logger"] = _Masked(logging.getLogger("websockets.client"), route.secrets())
    return url, True


def _refusal(uri: str, why: str) -> ConfigError:
    parts = urlsplit(uri)
    shown = printable(f"{parts.scheme}://{parts.netloc}{parts.path}")  # never the query
    name = next((n for key, n in _KNOWN.items() if key in parts.path), "this WebSocket route")
    return ConfigError([f"{name} ({shown}): refused, because {why}; {_ONLY_LIVE}"])


def _where(url: str) -> str:
    """``url`` without its scheme, query and fragment, the host lowercased, the port explicit."""
    parts, port = urlsplit(url), 0
    with contextlib.suppress(ValueError):  # an invalid port
        port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    return f"{parts.hostname or ''}:{port}{parts.path.rstrip('/')}"


class _Masked(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that writes each secret in a message's arguments as its fingerprint."""

    def __init__(self, logger: logging.Logger, secrets: list[str]) -> None:
        super().__init__(logger)
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            shown = (a if isinstance(a, int | float) else mask(str(a), self._secrets) for a in args)
            self.logger.log(level, msg, *shown, **kwargs)
