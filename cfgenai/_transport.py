"""What cfgenai does to each request as it leaves and to each answer as it arrives, on every
transport google-genai uses.

google-genai sends sync and async requests with httpx (or its fork httpx2), and async
requests with aiohttp when that is installed. Each dict below reaches each library, which
keeps only the arguments it accepts: ``event_hooks`` for httpx, ``middlewares`` for aiohttp.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import re
import ssl
import threading
import weakref
from collections.abc import AsyncGenerator, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic_core import SchemaSerializer, core_schema

from . import _compat, _otel
from ._checks import is_loopback_url
from ._plan import Route
from ._secrets import mask_headers, printable

if TYPE_CHECKING:
    import aiohttp

_DEFAULT_PORTS = {"http": 80, "https": 443}


def client_args(
    route: Route, *, otel: bool = False, share_tls: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(client_args, async_client_args)`` for google-genai's ``HttpOptions``, adapting
    ``route`` (see :class:`Outgoing`); ``otel`` adds the ids of the OpenTelemetry span current
    at sending (``_otel``); ``share_tls`` hands over :func:`tls_contexts`. Every transport turns the gateway's own error bodies into
    :class:`GatewayError`, and follows no redirect: a 3xx raises :class:`RedirectError`
    (google-genai would resend every credential to it). A gateway on this machine is reached
    directly, whatever the proxy variables say: a proxy would see the credentials sent in
    clear text to a plain-http emulator.
    """
    _compat.pickle_transport_errors_without_requests()
    outgoing = Outgoing(route, otel)
    sync: dict[str, Any] = {"event_hooks": {"request": [outgoing], "response": [GatewayErrors()]}}
    # No follow_redirects=False (httpx) or allow_redirects=False (aiohttp): the response hooks
    # and the middleware see each 3xx before it could be followed, and raise.
    async_: dict[str, Any] = {
        "event_hooks": {
            "request": [OutgoingAsync(route, otel)],
            "response": [GatewayErrorsAsync()],
        },
        "middlewares": (AiohttpMiddleware(outgoing),),
    }
    if share_tls:  # google-genai gives the async httpx client the sync one's `verify`
        sync["verify"], async_["ssl"] = tls_contexts(route.url)
    direct = is_loopback_url(route.url)
    if direct:  # httpx; the aiohttp middleware drops the proxy it chose per request
        sync["trust_env"] = async_["trust_env"] = False
    if _compat.genai_version() < (3, 0) or not _compat.has_aiohttp():
        async_["transport"] = LoopPools(route.url if share_tls else None, trust_env=not direct)
        async_["trust_env"] = False  # proxies are the pools' business (httpx would bind its own)
    return sync, async_


def tls_contexts(url: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(for httpx, for aiohttp and websockets)`` for a gateway at ``url``: the contexts
    google-genai would make for each client (up to three CA-store loads, most of what
    building one costs), made once per process and trust-store setting: certifi's bundle, the
    system store for httpx2 in google-genai 3.x, ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``
    honoured as google-genai does. A plain-http gateway (on this machine) gets a context with
    no CA at all: its client never makes a TLS connection, and one would fail to verify."""
    if url.startswith("http:"):
        return _no_ca(), _no_ca()
    cafile, capath = os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR")
    return _tls_contexts(_compat.http_backend(), cafile, capath or None)


@functools.cache
def _no_ca() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates, and trusts none


@functools.lru_cache(maxsize=8)
def _tls_contexts(
    backend: str, cafile: str | None, capath: str | None
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    import certifi

    bundle = ssl.create_default_context(cafile=cafile or certifi.where(), capath=capath)
    if not _compat.uses_truststore(backend) or cafile:
        return bundle, bundle  # the same CA file (and folder): one context
    if capath:
        return ssl.create_default_context(capath=capath), bundle
    return _compat.httpx_module().create_ssl_context(), bundle


def placed(prefix: str, url: str) -> str | None:
    """``url`` put back under ``prefix`` (``{root}/{provider}``), or None when it is there.

    google-genai takes some URLs from answers (the resumable upload's ``x-goog-upload-url``,
    which the gateway passes on from Google) and may rebuild others on the base URL's host
    without its path. A URL on Google's hosts (``*.googleapis.com``), or an upload or download
    path on the gateway's host outside the prefix, is put back under the prefix; a URL
    anywhere else raises :class:`OffGatewayError` before anything is sent.
    """
    target = urlsplit(url)
    # A path a server may resolve elsewhere: a model name with an encoded dot or slash,
    # '..', a control character, a '?' (the query then holds the method) or '#'.
    unsafe = _UNSAFE_PATH.search(target.path) or _METHOD_IN_QUERY.match(target.query)
    if unsafe or target.fragment:
        raise _off_gateway(url, f"the path {printable(target.path)} holds {_UNSAFE}")
    root = urlsplit(prefix)
    moved = None
    if _origin(target) != _origin(root):
        if not (target.hostname or "").endswith(".googleapis.com"):
            raise _off_gateway(url, f"{target.hostname} is not the gateway's host")
        moved = target.path
    elif not target.path.startswith(root.path + "/"):
        if not target.path.startswith(("/upload/", "/download/")):
            raise _off_gateway(url, f"its path is outside {root.path}")
        moved = target.path
    # google-genai puts the API version first; a path without one had a '..' or an encoded dot
    # segment resolved on the way (aiohttp's URL parser does so before any middleware looks).
    if not _API_PATH.match(moved or target.path[len(root.path) :]):
        raise _off_gateway(url, f"the path under {root.path} does not start with an API version")
    if moved is None:
        return None
    query = f"?{target.query}" if target.query else ""
    return f"{prefix}{moved}{query}"


_API_PATH = re.compile(r"/(?:upload/|download/)?v[0-9]+[a-z0-9]*/")
_UNSAFE_PATH = re.compile(r"%(?:2e|2f|5c|3f|23|[01][0-9a-f]|7f)|[^\x21-\x7e]|\.\.|/\.(?:/|$)", re.I)
_METHOD_IN_QUERY = re.compile(r"[^=&]*:")  # "?b:generateContent": a '?' in a model name
_UNSAFE = (
    "an encoded dot or slash, a '..' segment or a control character (from a model or resource "
    "name: name it plainly, e.g. gemini-2.5-flash)"
)


def _origin(parts: Any) -> tuple[str, str | None, int | None]:
    return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)


def _off_gateway(url: str, why: str) -> Exception:
    from ._google_errors import OffGatewayError

    return OffGatewayError(url, why)


@dataclasses.dataclass(frozen=True)
class _Hook:
    # Hooks are values, not functions: frameworks copy, deep-copy, pickle and JSON-serialise
    # the HttpOptions they are given (llama-index calls to_json_dict()). In JSON a hook is
    # its name; a JSON copy cannot carry code, and httpx refuses the name before sending.
    __pydantic_serializer__: ClassVar[SchemaSerializer] = SchemaSerializer(
        core_schema.any_schema(
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda hook: f"cfgenai:{type(hook).__name__}", when_used="json"
            )
        )
    )


@dataclasses.dataclass(frozen=True)
class Outgoing(_Hook):
    """httpx request hook: the request kept under the route's URL (:func:`placed`), with the
    route's credentials as their files hold them now, without the headers it drops, and with
    the current OpenTelemetry span's ids."""

    route: Route
    otel: bool = False

    def prepare(self, url: str, headers: MutableMapping[str, str]) -> str | None:
        """Changes ``headers`` in place; returns the URL to send to instead, if any."""
        moved = placed(self.route.url, url)
        for name in self.route.drop:
            if name in headers:
                del headers[name]  # every value of it
        for name, form, secret in self.route.credentials:
            # A credential google-genai put there (its key) is replaced by the file's current one.
            if name not in headers or secret.path is not None:
                headers[name] = form.format(secret.value())
        if self.otel:
            _otel.add_trace_headers(headers)
        return moved

    def __call__(self, request: Any) -> None:
        moved = self.prepare(str(request.url), request.headers)
        if moved is not None:
            request.url = type(request.url)(moved)
            request.headers["Host"] = request.url.netloc.decode("ascii")


@dataclasses.dataclass(frozen=True)
class OutgoingAsync(Outgoing):
    """httpx async request hook: the same."""

    async def __call__(self, request: Any) -> None:  # type: ignore[override]
        super().__call__(request)


@dataclasses.dataclass(frozen=True)
class GatewayErrors(_Hook):
    """httpx response hook: raises on redirects and on error answers (see :func:`_raise`)."""

    def __call__(self, response: Any) -> None:
        if response.status_code >= 300:
            body = response.read() if response.status_code >= 400 else b""
            _raise(response.status_code, response.headers, body, response.request)


@dataclasses.dataclass(frozen=True)
class GatewayErrorsAsync(_Hook):
    """httpx async response hook: the same."""

    async def __call__(self, response: Any) -> None:
        if response.status_code >= 300:
            body = await response.aread() if response.status_code >= 400 else b""
            _raise(response.status_code, response.headers, body, response.request)


@dataclasses.dataclass(frozen=True)
class AiohttpMiddleware(_Hook):
    """aiohttp client middleware: all of the above."""

    outgoing: Outgoing

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        # google-genai sends a resumable upload's chunks through the same session, but
        # without the per-request arguments that bring this middleware: it joins the session.
        _compat.session_middleware(request.session, self)
        await close_at_shutdown(request.session)
        # The original URL: yarl's request.url is the same without a '#' part, refused too.
        moved = self.outgoing.prepare(str(request.original_url), request.headers)
        if moved is not None:
            request.url = request.original_url = type(request.url)(moved, encoded=True)
            request.headers["Host"] = request.url.host_port_subcomponent or ""
        if request.proxy is not None and is_loopback_url(self.outgoing.route.url):
            request.update_proxy(None, None, None)
        unreadable: Exception | None = None
        try:
            response = await handler(request)
        except _compat.aiohttp_response_error() as exc:  # an answer aiohttp could not parse
            unreadable = _without_credentials(exc)
        if unreadable is not None:  # raised here, where it has no __context__ to carry them
            raise unreadable
        if response.status >= 300:
            body = await response.read() if response.status >= 400 else b""
            response.release()
            _raise(response.status, response.headers, body, request)
        return response


def _without_credentials(error: Any) -> Exception:
    """aiohttp's ``ClientResponseError`` (a header too large, a bad status line...) with its
    request's credential headers fingerprinted: its repr shows them, and error reporters and
    asyncio's "exception was never retrieved" log print it."""
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy

    info = error.request_info
    headers = CIMultiDictProxy(CIMultiDict(mask_headers(info.headers)))
    request_info = aiohttp.RequestInfo(info.url, info.method, headers, info.real_url)
    scrubbed: Exception = type(error)(
        request_info, (), status=error.status, message=error.message, headers=error.headers
    )
    return scrubbed


def _raise(status: int, headers: Any, body: bytes, request: Any) -> None:
    """Raise for a 3xx (cfgenai follows no redirect: google-genai would resend every
    credential to it) or an error answer: the gateway's own refusal as a GatewayError, else
    google-genai's error. The exception keeps the answer, not the response object, whose
    request holds the credentials: it prints and pickles without them."""
    from ._responses import answered, error_for, redirect_error  # on the first error only

    url = urlsplit(str(request.url))._replace(query="", fragment="").geturl()
    answer = answered(status, headers, body, request.method, url)
    if status < 400:
        raise redirect_error(status, str(request.url), answer.headers.get("location"), answer)
    raise error_for(answer)


# -- one connection pool per event loop ---------------------------------------------------------
# Pooled connections belong to the loop that opened them. google-genai 2.x keeps one async
# httpx client, so a second `asyncio.run()` (or a loop in another thread) reuses the first
# loop's connections and fails with "Event loop is closed"; its aiohttp session fails the same
# way for loops that run at once. google-genai 3.x keeps one pool per loop itself, but leaves
# an ended loop's connections to the garbage collector. Where google-genai sends with httpx
# (2.x always, then; 3.x without aiohttp), cfgenai hands it LoopPools; an aiohttp session
# (3.x) is closed by the middleware as its loop shuts down.


class LoopPools:
    """An httpx async transport that sends each request on its running loop's own pool.

    It holds no credential and no connection worth keeping in a copy: a copy or a pickle is
    a new, empty one. In JSON it is its name, as cfgenai's hooks are.
    """

    __pydantic_serializer__ = _Hook.__pydantic_serializer__

    def __init__(self, tls_for: str | None, trust_env: bool) -> None:
        # tls_for: the gateway's URL, for tls_contexts(); None: httpx's own default.
        self.tls_for, self.trust_env = tls_for, trust_env
        self._pools: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:  # copy.copy and copy.deepcopy use it too
        return LoopPools, (self.tls_for, self.trust_env)

    async def handle_async_request(self, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        client = self._pools.get(loop) or await self._open(loop)
        # The pool's client picks the transport as it would for itself: a proxy, or direct.
        return await _compat.transport_for(client, request.url).handle_async_request(request)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> Any:
        verify = tls_contexts(self.tls_for)[0] if self.tls_for else True
        client = _compat.httpx_module().AsyncClient(verify=verify, trust_env=self.trust_env)
        await close_at_shutdown(client)  # never suspends: no other task opens one meanwhile
        with self._lock:
            for ended in [other for other in self._pools if other.is_closed()]:
                del self._pools[ended]
            self._pools[loop] = client
        return client

    async def aclose(self) -> None:
        """httpx's close: does nothing. httpx calls it when any client holding the transport
        closes: clients built from one ``client_kwargs()`` share it, and google-genai 2.0
        closes a client it discarded while building. Each pool closes as its loop shuts down,
        or with :meth:`close_pools`."""

    async def close_pools(self) -> None:
        """Closes every pool: this loop's now, those of other running loops on their loop;
        a loop that ended closed its own as it shut down."""
        with self._lock:
            pools, self._pools = self._pools, {}
        current = asyncio.get_running_loop()
        for loop, client in pools.items():
            if loop is current:
                await client.aclose()
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # it closed meanwhile
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop)

    async def __aenter__(self) -> LoopPools:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        pass


# Async generators started on a loop, by what they close: asyncio.run() finalises a loop's
# async generators before it closes the loop, and so closes each resource on its own loop.
_CLOSERS: weakref.WeakKeyDictionary[Any, AsyncGenerator[None]] = weakref.WeakKeyDictionary()


async def close_at_shutdown(resource: Any) -> None:
    """Close ``resource`` (an httpx client or an aiohttp session, bound to the running loop)
    while that loop shuts down, so that no connection outlives its loop. Once per resource."""
    if resource not in _CLOSERS:
        closer = _CLOSERS[resource] = _closer(weakref.ref(resource))
        await anext(closer)  # its first step registers it with the running loop


async def _closer(resource: weakref.ref[Any]) -> AsyncGenerator[None]:
    try:
        yield
    finally:
        if (alive := resource()) is not None:
            await (getattr(alive, "aclose", None) or alive.close)()
