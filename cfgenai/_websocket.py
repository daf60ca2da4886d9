"""The one guard every WebSocket that google-genai opens passes (see docs/routes.md): Live
on its route, anything else towards a gateway or with a client's credential refused.

It wraps websockets' ``connect`` once per process, whatever name a google-genai module
imported it under, and keeps its state on that class: a second import of cfgenai shares it.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from ._checks import KEY_HEADER, is_loopback_url
from ._errors import ConfigError
from ._plan import Route
from ._secrets import fingerprint, mask, printable

_STATE = "_cfgenai_guard"
_installing = threading.Lock()
_LIVE_METHOD = ".GenerativeService.BidiGenerateContent"
# The routes Cloudflare does not document, named for the refusal's message.
_KNOWN = {
    "BidiGenerateMusic": "the Live Music API",
    "/interactions/live": "Live Interactions",
    "BidiGenerateContent": "the Live API on this provider",
}


@dataclass
class _Guard:
    live: contextvars.ContextVar[Route | None]
    # Replaced whole, never changed in place: a thread may be reading them.
    gateways: frozenset[str] = frozenset()  # "host:port/root path", scheme-free
    credentials: frozenset[str] = frozenset()  # the fingerprint of each credential


def install(gateway_root: str, secrets: Iterable[str]) -> None:
    """Guard websockets' ``connect`` (once per process), knowing a client's gateway and the
    credentials it holds."""
    guard = _guard()
    guard.gateways |= {_where(gateway_root)}
    guard.credentials |= {fingerprint(s) for s in secrets if s}


@contextlib.contextmanager
def live_route(route: Route) -> Iterator[None]:
    """The WebSocket google-genai's Live API opens in this context goes on ``route``."""
    live = _guard().live
    token = live.set(route)
    try:
        yield
    finally:
        live.reset(token)


def _guard() -> _Guard:
    from websockets.asyncio.client import connect

    with _installing:
        return connect.__dict__.get(_STATE) or _install(connect)


def _install(connect: Any) -> _Guard:
    guard = _Guard(contextvars.ContextVar("cfgenai_live", default=None))
    original = connect.__init__
    has_proxy = "proxy" in inspect.signature(original).parameters

    def __init__(self: Any, uri: str, *args: Any, **kwargs: Any) -> None:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        routed = False
        if caller.startswith("google.genai"):  # other WebSockets are none of cfgenai's business
            uri, routed = _checked(guard, uri, kwargs, has_proxy)
        original(self, uri, *args, **kwargs)
        if routed:  # a redirect is raised, never followed: it would carry the credentials
            self.process_redirect = lambda exc: exc

    connect.__init__ = __init__
    setattr(connect, _STATE, guard)
    return guard


def _checked(guard: _Guard, uri: str, kwargs: dict[str, Any], has_proxy: bool) -> tuple[str, bool]:
    """The URI to open and whether cfgenai routed it (``kwargs`` changed); raises to refuse."""
    route = guard.live.get()
    if route is not None:
        guard.live.set(None)  # one connection per Live session
        return _on_live_route(route, uri, kwargs, has_proxy), True
    where = _where(uri)
    if any(where == g or where.startswith(g + "/") for g in guard.gateways):
        raise _refusal(uri, "Cloudflare AI Gateway documents no such WebSocket route")
    if any(fingerprint(v) in guard.credentials for v in _values(uri, kwargs)):
        raise _refusal(uri, "it is not the configured gateway, and it would carry its credentials")
    return uri, False


def _on_live_route(route: Route, uri: str, kwargs: dict[str, Any], has_proxy: bool) -> str:
    if not urlsplit(uri).path.endswith(_LIVE_METHOD):
        raise _refusal(uri, "it is not the Live API's, the one route cfgenai's Live opens")
    url = route.url
    if route.key is not None:
        url += "?" + urlencode({"api_key": route.key.value()})
    headers = dict(kwargs.get("additional_headers") or {})
    headers = {k: v for k, v in headers.items() if k.lower() != KEY_HEADER}
    kwargs["additional_headers"] = {**headers, **route.credential_headers()}
    if url.startswith("ws:"):
        kwargs.pop("ssl", None)  # websockets refuses a TLS context for ws://
    if has_proxy and is_loopback_url(url):
        kwargs["proxy"] = None  # websockets 15 and later follow the proxy variables
    # websockets logs the request line and every header at DEBUG level.
    kwargs["logger"] = _Masked(logging.getLogger("websockets.client"), route.secrets())
    return url


def _refusal(uri: str, why: str) -> ConfigError:
    parts = urlsplit(uri)
    shown = printable(f"{parts.scheme}://{parts.netloc}{parts.path}")  # never the query
    name = next((n for key, n in _KNOWN.items() if key in parts.path), "this WebSocket route")
    return ConfigError(
        [
            f"{name} ({shown}): refused, because {why}; cfgenai opened no connection and sent "
            "no credential. Cloudflare documents the Live API alone ({root}/google, a "
            "google-ai-studio client's client.aio.live); see cfgenai's docs/routes.md"
        ]
    )


def _where(url: str) -> str:
    """``url`` without its scheme, query and fragment, the host lowercased, the port explicit."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() in ("https", "wss") else 80)
    except ValueError:
        port = 0
    return f"{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


def _values(uri: str, kwargs: dict[str, Any]) -> Iterator[str]:
    """Each header and query value a connection would send, and a Bearer credential alone."""
    headers = kwargs.get("additional_headers") or kwargs.get("extra_headers") or {}
    items = headers.items() if hasattr(headers, "items") else headers
    for value in [str(v) for _, v in items] + [v for _, v in parse_qsl(urlsplit(uri).query)]:
        yield value
        yield value.partition(" ")[2]


class _Masked(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that writes each secret as its fingerprint, in the message and its arguments."""

    def __init__(self, logger: logging.Logger, secrets: list[str]) -> None:
        super().__init__(logger, {})
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if self.isEnabledFor(level):
            self.logger.log(level, self._hide(msg), *map(self._hide, args), **kwargs)

    def _hide(self, value: object) -> object:
        text = str(value)
        hidden = mask(text, self._secrets)
        return value if hidden == text else hidden
