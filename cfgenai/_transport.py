"""What cfgenai does to each request as it leaves and to each answer as it arrives, on every
transport google-genai uses: httpx (or httpx2) event hooks, an aiohttp middleware, and one
httpx pool per event loop (see docs/behaviour.md)."""

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
from urllib.parse import SplitResult, urlsplit

from pydantic_core import SchemaSerializer, core_schema

from . import _compat, _otel
from ._checks import is_loopback_url
from ._google_errors import OffGatewayError
from ._plan import Route
from ._secrets import mask_headers, printable

if TYPE_CHECKING:
    import aiohttp

_DEFAULT_PORTS = {"http": 80, "https": 443}


def client_args(
    route: Route, *, otel: bool = False, share_tls: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(client_args, async_client_args)`` for google-genai's ``HttpOptions`` that send on
    ``route`` (see :class:`Outgoing`) and raise the gateway's errors and every redirect;
    ``otel`` adds the current span's ids; ``share_tls`` hands over :func:`tls_contexts`."""
    _compat.pickle_transport_errors_without_requests()
    outgoing = Outgoing(route, otel)
    # The response hooks see each 3xx before it could be followed, and raise.
    sync: dict[str, Any] = {"event_hooks": {"request": [outgoing], "response": [GatewayErrors()]}}
    async_: dict[str, Any] = {
        "event_hooks": {
            "request": [OutgoingAsync(route, otel)],
            "response": [GatewayErrorsAsync()],
        },
        "middlewares": (AiohttpMiddleware(outgoing),),
    }
    if share_tls:  # google-genai gives the async httpx client the sync one's `verify`
        sync["verify"], async_["ssl"] = tls_contexts(route.url)
    # A proxy would see the credentials a plain-http emulator gets in clear text.
    direct = is_loopback_url(route.url)
    if direct:
        sync["trust_env"] = async_["trust_env"] = False
    if _compat.genai_version() < (3, 0) or not _compat.has_aiohttp():
        async_["transport"] = LoopPools(route.url if share_tls else None, trust_env=not direct)
        async_["trust_env"] = False  # proxies are the pools' business (httpx would bind its own)
    return sync, async_


def tls_contexts(url: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(for httpx, for aiohttp and websockets)``: the contexts google-genai would make for a
    gateway at ``url``, made once per process; reads ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``.
    A plain-http gateway's clients make no TLS connection: their context trusts no CA."""
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


def placed(prefix: SplitResult, url: str) -> str | None:
    """``url`` put back under ``prefix`` (``{root}/{provider}``), or None when it is there:
    google-genai takes some URLs from answers (an upload's ``x-goog-upload-url``), on Google's
    hosts or outside the prefix. Any other URL raises :class:`OffGatewayError`."""
    target = urlsplit(url)
    # A path a server may resolve elsewhere (from a model name), or a '?' or '#' in one.
    unsafe = _UNSAFE_PATH.search(target.path) or _METHOD_IN_QUERY.match(target.query)
    if unsafe or target.fragment:
        raise OffGatewayError(url, f"the path {printable(target.path)} holds {_UNSAFE}")
    moved = None
    if _origin(target) != _origin(prefix):
        if not (target.hostname or "").endswith(".googleapis.com"):
            raise OffGatewayError(url, f"{target.hostname} is not the gateway's host")
        moved = target.path
    elif not target.path.startswith(prefix.path + "/"):
        if not target.path.startswith(("/upload/", "/download/")):
            raise OffGatewayError(url, f"its path is outside {prefix.path}")
        moved = target.path
    # No API version first: a dot segment was resolved on the way (aiohttp's parser does so).
    if not _API_PATH.match(moved or target.path[len(prefix.path) :]):
        why = f"the path under {prefix.path} does not start with an API version"
        raise OffGatewayError(url, why)
    if moved is None:
        return None
    query = f"?{target.query}" if target.query else ""
    return f"{prefix.geturl()}{moved}{query}"


_API_PATH = re.compile(r"/(?:upload/|download/)?v[0-9]+[a-z0-9]*/")
_UNSAFE_PATH = re.compile(r"%(?:2e|2f|5c|3f|23|[01][0-9a-f]|7f)|[^\x21-\x7e]|\.\.|/\.(?:/|$)", re.I)
_METHOD_IN_QUERY = re.compile(r"[^=&]*:")  # "?b:generateContent": a '?' in a model name
_UNSAFE = (
    "an encoded dot or slash, a '..' segment or a control character (from a model or resource "
    "name: name it plainly, e.g. gemini-2.5-flash)"
)


def _origin(parts: SplitResult) -> tuple[str, str | None, int | None]:
    return parts.scheme, parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)


@dataclasses.dataclass(frozen=True)
class _Hook:
    # Hooks are values: frameworks copy, pickle and JSON-serialise the HttpOptions they get
    # (llama-index). In JSON a hook is its name, which httpx refuses before sending.
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
    route's credentials as their files hold them now, without the headers it drops."""

    route: Route
    otel: bool = False

    @functools.cached_property
    def _prefix(self) -> SplitResult:  # parsed once, not for each request
        return urlsplit(self.route.url)

    def prepare(self, url: str, headers: MutableMapping[str, str]) -> str | None:
        """Changes ``headers`` in place; returns the URL to send to instead, if any."""
        moved = placed(self._prefix, url)
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
class GatewayErrorsAsync(GatewayErrors):
    """httpx async response hook: the same."""

    async def __call__(self, response: Any) -> None:  # type: ignore[override]
        if response.status_code >= 400:
            await response.aread()  # then read() returns it
        super().__call__(response)


@dataclasses.dataclass(frozen=True)
class AiohttpMiddleware(_Hook):
    """aiohttp client middleware: all of the above."""

    outgoing: Outgoing

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        import aiohttp

        # google-genai sends an upload's chunks without the per-request middlewares.
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
        except aiohttp.ClientResponseError as exc:  # an answer aiohttp could not parse
            unreadable = _without_credentials(exc)
        if unreadable is not None:  # raised here, where it has no __context__ to carry them
            raise unreadable
        if response.status >= 300:
            body = await response.read() if response.status >= 400 else b""
            response.release()
            _raise(response.status, response.headers, body, request)
        return response


def _without_credentials(error: aiohttp.ClientResponseError) -> Exception:
    """``error`` with its request's credential headers fingerprinted: its repr shows them."""
    import aiohttp
    from multidict import CIMultiDict, CIMultiDictProxy

    info = error.request_info
    headers = CIMultiDictProxy(CIMultiDict(mask_headers(info.headers)))
    request_info = aiohttp.RequestInfo(info.url, info.method, headers, info.real_url)
    return type(error)(
        request_info, (), status=error.status, message=error.message, headers=error.headers
    )


def _raise(status: int, headers: Any, body: bytes, request: Any) -> None:
    """Raise the gateway's error (or google-genai's) for a 3xx or an error answer, without the
    request and its credentials."""
    from ._responses import answered, error_for, redirect_error  # on the first error only

    url = urlsplit(str(request.url))._replace(query="", fragment="").geturl()
    answer = answered(status, headers, body, request.method, url)
    if status < 400:
        raise redirect_error(status, str(request.url), answer.headers.get("location"), answer)
    raise error_for(answer)


class LoopPools:
    """An httpx async transport that sends on the running loop's own pool (connections belong
    to their loop; google-genai 2.x shares one). A copy or pickle is a new, empty one."""

    __pydantic_serializer__ = _Hook.__pydantic_serializer__

    def __init__(self, tls_for: str | None, trust_env: bool) -> None:
        self.tls_for, self.trust_env = tls_for, trust_env
        self._pools: dict[asyncio.AbstractEventLoop, Any] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:  # copy.copy and copy.deepcopy use it too
        return LoopPools, (self.tls_for, self.trust_env)

    async def handle_async_request(self, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        client = self._pools.get(loop) or await self._open(loop)
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
        """Nothing: clients built from one ``client_kwargs()`` share it (:meth:`close_pools`)."""

    async def close_pools(self) -> None:
        """Closes every pool: this loop's now, other running loops' on their loop."""
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


# asyncio.run() finalises a loop's async generators before it closes the loop.
_CLOSERS: weakref.WeakKeyDictionary[Any, AsyncGenerator[None]] = weakref.WeakKeyDictionary()


async def close_at_shutdown(resource: Any) -> None:
    """Close ``resource`` (an httpx client or an aiohttp session) as its loop shuts down."""
    if resource not in _CLOSERS:
        closer = _CLOSERS[resource] = _closer(weakref.ref(resource))
        await anext(closer)  # its first step registers it with the running loop


async def _closer(resource: weakref.ref[Any]) -> AsyncGenerator[None]:
    try:
        yield
    finally:
        if (alive := resource()) is not None:
            await (getattr(alive, "aclose", None) or alive.close)()
