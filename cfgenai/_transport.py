"""What cfgenai does to each request and answer on every transport google-genai uses."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import os
import re
import ssl
import sys
import threading
import weakref
from collections.abc import AsyncGenerator, MutableMapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import SplitResult, urlsplit

import certifi
from pydantic_core import SchemaSerializer, core_schema

from . import _compat, _otel
from ._errors import NOWHERE, Reach, host_port, reached, unreachable
from ._google_errors import OffGatewayError
from ._plan import USER_AGENT, Route
from ._responses import answered, error_for
from ._secrets import mask_headers, mask_in_place, printable

if TYPE_CHECKING:
    import aiohttp

_API_PATH = re.compile(r"/(?:upload/|download/)?v[0-9]+[a-z0-9]*/")
_UNSAFE_PATH = re.compile(r"%(?:2e|2f|5c|3f|23|[01][0-9a-f]|7f)|[^\x21-\x7e]|\.\.|/\.(?:/|$)", re.I)
_METHOD_IN_QUERY = re.compile(r"[^=&]*:")  # "?b:generateContent": a '?' in a model name
_UNSAFE = "an encoded dot or slash, '..' or a control character: name the model or resource plainly"


def client_args(
    route: Route, otel: bool, *, share_tls: bool, attempts: int = 1, timeout: float = 0
) -> dict[str, Any]:
    """``HttpOptions``' ``client_args`` and ``async_client_args`` (share_tls: one TLS context);
    a failure to reach the gateway in ``attempts`` of ``timeout`` s is a GatewayUnreachable."""
    _compat.pickle_transport_errors_without_requests()
    reach = Reach(host_port(route.url), attempts, timeout)
    request, response = Outgoing(route, otel), GatewayErrors()
    sync: dict[str, Any] = {"event_hooks": {"request": [request], "response": [response]}}
    async_: dict[str, Any] = {"middlewares": (AiohttpMiddleware(route, otel, reach),)}
    async_["event_hooks"] = {"request": [Awaited(request)], "response": [Awaited(response)]}
    pools = LoopPools(route.url if share_tls else None, not route.direct, reach)
    # Errors translated in the pools, which keep the proxies (httpx would bind its own) and
    # verify as google-genai would (httpx ignores the `verify` it gives, given a transport).
    sync["transport"], sync["trust_env"] = LoopPools(route.url, not route.direct, reach), False
    if share_tls:  # google-genai gives the async httpx client the sync one's `verify`
        sync["verify"], async_["ssl"] = tls_contexts(route.url)
    if route.direct:  # a proxy would see what a plain-http emulator gets in clear text
        async_["trust_env"] = False
    if not _compat.async_over_aiohttp():
        async_["transport"] = pools
        async_["trust_env"] = False  # proxies are the pools' business (httpx would bind its own)
    return {"client_args": sync, "async_client_args": async_}


@functools.cache
def _counted(httpx: Any) -> type[Any]:
    class Counted(httpx.SyncByteStream, httpx.AsyncByteStream):  # type: ignore[misc]
        """An httpx response's stream, its bytes counted, its failures translated."""

        def __init__(self, stream: Any, reach: Reach) -> None:
            self.stream, self.reach, self.received = stream, reach, 0

        def __iter__(self) -> Any:
            try:
                for chunk in self.stream:
                    self.received += len(chunk)
                    yield chunk
            except Exception as exc:
                raise unreachable(exc, self.reach, self.received)  # noqa: B904 (its __cause__ is set)

        async def __aiter__(self) -> Any:
            try:
                async for chunk in self.stream:
                    self.received += len(chunk)
                    yield chunk
            except Exception as exc:
                raise unreachable(exc, self.reach, self.received)  # noqa: B904 (its __cause__ is set)

        def close(self) -> None:
            self.stream.close()

        async def aclose(self) -> None:
            await self.stream.aclose()

    return Counted


@functools.cache
def _body(reader: type[Any], reach: Reach) -> type[Any]:
    """aiohttp's ``reader`` (a response body's StreamReader), each read's failure translated."""

    def translated(read: Any) -> Any:
        async def method(self: Any, *args: Any) -> Any:
            try:
                return await read(self, *args)
            except Exception as exc:
                raise unreachable(exc, reach, self.total_bytes)  # noqa: B904 (its __cause__ is set)

        return method

    reads = {name: translated(getattr(reader, name)) for name in ("read", "readany", "readline")}
    return type("Body", (reader,), {"__slots__": (), **reads})


def tls_contexts(url: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(for httpx, for aiohttp and websockets)``; reads ``SSL_CERT_FILE`` and ``SSL_CERT_DIR``."""
    backend = "" if url.startswith("http:") else _compat.http_backend()
    return _tls_contexts(backend, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)  # made once, as google-genai makes them
def _tls_contexts(backend: str, cafile: str | None, capath: str | None) -> tuple[Any, Any]:
    if not backend:  # plain http: a context that verifies certificates, and trusts none
        no_ca = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return no_ca, no_ca
    bundle = ssl.create_default_context(cafile=cafile or certifi.where(), capath=capath or None)
    if not _compat.uses_truststore(backend) or cafile:
        return bundle, bundle  # the same CA file (and folder): one context
    if capath:
        return ssl.create_default_context(capath=capath), bundle
    return _compat.httpx_module().create_ssl_context(), bundle


def placed(prefix: SplitResult, url: str) -> str | None:
    """``url`` from Google's host moved under ``prefix``; None if under it; else OffGatewayError."""
    target = urlsplit(url)
    # A path a server may resolve elsewhere (from a model name), or a '?' or '#' in one.
    unsafe = _UNSAFE_PATH.search(target.path) or _METHOD_IN_QUERY.match(target.query)
    if unsafe or target.fragment:
        raise OffGatewayError(url, f"the path {printable(target.path)} holds {_UNSAFE}")
    elsewhere = _origin(target) != _origin(prefix)
    if elsewhere and not (target.hostname or "").endswith(".googleapis.com"):
        raise OffGatewayError(url, f"{target.hostname} is not the gateway's host")
    under = not elsewhere and target.path.startswith(prefix.path + "/")
    if not (under or elsewhere or target.path.startswith(("/upload/", "/download/"))):
        raise OffGatewayError(url, f"its path is outside {prefix.path}")
    # No API version first: a dot segment was resolved on the way (aiohttp's parser does so).
    if not _API_PATH.match(target.path[len(prefix.path) :] if under else target.path):
        raise OffGatewayError(url, f"the path under {prefix.path} lacks an API version first")
    if under:
        return None
    return prefix._replace(path=prefix.path + target.path, query=target.query).geturl()


def _origin(parts: SplitResult) -> tuple[str, str | None, int | None]:
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


@dataclasses.dataclass(frozen=True)
class _Hook:
    # Hooks are values: frameworks copy, pickle and JSON-serialise the HttpOptions they get
    # (llama-index). In JSON a hook is its name, which httpx refuses before sending; the pools
    # are none (httpx makes its own transport, which a copy's client can close).
    __pydantic_serializer__: ClassVar[SchemaSerializer] = SchemaSerializer(
        core_schema.any_schema(
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda hook: f"cfgenai:{type(hook).__name__}" if isinstance(hook, _Hook) else None,
                when_used="json",
            )
        )
    )


@dataclasses.dataclass(frozen=True)
class Outgoing(_Hook):
    """httpx request hook: the request ``placed``, with the route's current credentials."""

    route: Route
    otel: bool = False

    def prepare(self, url: str, headers: MutableMapping[str, str]) -> str | None:
        """Changes ``headers`` in place; returns the URL to send to instead, if any."""
        self.route.leaving()
        moved = placed(urlsplit(self.route.url), url)  # which caches what it splits
        agent = headers.get("user-agent", "")  # upload chunks go without the client's headers
        if USER_AGENT not in agent:
            headers["user-agent"] = f"{agent} {USER_AGENT}".lstrip()
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


class GatewayErrors(_Hook):
    """httpx response hook: raises on redirects (before one is followed) and error answers."""

    def __call__(self, response: Any) -> None:
        if response.status_code >= 300:
            body = response.read() if response.status_code >= 400 else b""
            _raise(response.status_code, response.headers, body, response.request)


@dataclasses.dataclass(frozen=True)
class Awaited(_Hook):
    """httpx async event hook: ``hook``, once an error answer's body is read."""

    hook: Outgoing | GatewayErrors

    async def __call__(self, message: Any) -> None:
        if getattr(message, "status_code", 0) >= 400:  # then the response's read() returns it
            await message.aread()
        self.hook(message)


@dataclasses.dataclass(frozen=True)
class AiohttpMiddleware(Outgoing):
    """aiohttp client middleware: all of the above, and transport errors translated."""

    reach: Reach = NOWHERE

    async def __call__(  # type: ignore[override]
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        import aiohttp

        # google-genai sends an upload's chunks without the per-request middlewares.
        _compat.session_middleware(request.session, self)
        await close_at_shutdown(request.session)
        # The original URL: yarl's request.url is the same without a '#' part, refused too.
        moved = self.prepare(str(request.original_url), request.headers)
        if moved is not None:
            request.url = request.original_url = type(request.url)(moved, encoded=True)
            request.headers["Host"] = request.url.host_port_subcomponent or ""
        if request.proxy is not None and self.route.direct:
            request.update_proxy(None, None, None)
        unreadable: Exception | None = None
        try:
            with self.reach:
                response = await handler(request)
            reached()
            if type(response.content) is aiohttp.StreamReader:  # so are the reads of its body
                response.content.__class__ = _body(aiohttp.StreamReader, self.reach)
        except aiohttp.ClientResponseError as e:  # an answer aiohttp could not parse
            from multidict import CIMultiDict, CIMultiDictProxy

            info = e.request_info  # rebuilt with its credentials masked
            info = info._replace(headers=CIMultiDictProxy(CIMultiDict(mask_headers(info.headers))))
            unreadable = type(e)(info, (), status=e.status, message=e.message, headers=e.headers)
        if unreadable is not None:  # raised here, where it has no __context__ to carry them
            raise unreadable
        if response.status >= 300:
            body = await response.read() if response.status >= 400 else b""
            response.release()
            _raise(response.status, response.headers, body, request)
        return response


def _raise(status: int, headers: Any, body: bytes, request: Any) -> None:
    # The request is left out: its headers hold the credentials.
    url = urlsplit(str(request.url))._replace(query="", fragment="").geturl()
    raise error_for(answered(status, headers, body, request.method, url))


class LoopPools:
    """An httpx (or httpx2) transport with a pool per event loop; a copy or pickle is a new one."""

    __pydantic_serializer__ = _Hook.__pydantic_serializer__

    def __init__(self, tls_for: str | None, trust_env: bool, reach: Reach) -> None:
        self.tls_for, self.trust_env, self.reach = tls_for, trust_env, reach
        self._pools: dict[asyncio.AbstractEventLoop | None, Any] = {}  # None: the sync one
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:  # copy.copy and copy.deepcopy use it too
        return LoopPools, (self.tls_for, self.trust_env, self.reach)

    def _client(self, loop: asyncio.AbstractEventLoop | None, request: Any) -> Any:
        verify = tls_contexts(self.tls_for)[0] if self.tls_for else True
        httpx = sys.modules[type(request).__module__.partition(".")[0]]
        return (httpx.AsyncClient if loop else httpx.Client)(
            verify=verify, trust_env=self.trust_env
        )

    def _counted(self, response: Any) -> Any:
        reached()
        httpx = sys.modules[type(response).__module__.partition(".")[0]]
        response.stream = _counted(httpx)(response.stream, self.reach)
        return response

    def handle_request(self, request: Any) -> Any:
        with self._lock:
            client = self._pools.get(None) or self._pools.setdefault(
                None, self._client(None, request)
            )
        try:
            with self.reach:
                return self._counted(
                    _compat.transport_for(client, request.url).handle_request(request)
                )
        finally:  # sent, never again (a retry builds a new one); errors keep it, masked
            mask_in_place(request.headers)

    def close(self) -> None:
        """Closes the sync pool (the sync client's; the async pools close with their loops)."""
        with self._lock:
            client = self._pools.pop(None, None)
        if client is not None:
            client.close()

    async def handle_async_request(self, request: Any) -> Any:
        loop = asyncio.get_running_loop()
        if (client := self._pools.get(loop)) is None:
            client = self._client(loop, request)
            await close_at_shutdown(client)  # never suspends: no other task opens one meanwhile
            with self._lock:  # and forget the pools of loops that ended
                self._pools = {lp: c for lp, c in self._pools.items() if lp and not lp.is_closed()}
                self._pools[loop] = client
        transport = _compat.transport_for(client, request.url)
        try:
            with self.reach:
                return self._counted(await transport.handle_async_request(request))
        finally:
            mask_in_place(request.headers)

    async def aclose(self) -> None:
        """Nothing: clients built from one ``client_kwargs()`` share it (``close_pools``)."""

    async def close_pools(self) -> None:
        """Closes every pool: this loop's now, other running loops' on their loop."""
        with self._lock:
            pools, self._pools = self._pools, {}
        current = asyncio.get_running_loop()
        for loop, client in pools.items():
            if loop is None:
                client.close()
            elif loop is current:
                await client.aclose()
            elif not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # it closed meanwhile
                    asyncio.run_coroutine_threadsafe(client.aclose(), loop)


# asyncio.run() finalises a loop's async generators before it closes the loop.
_CLOSERS: weakref.WeakKeyDictionary[Any, AsyncGenerator[None]] = weakref.WeakKeyDictionary()


async def close_at_shutdown(resource: Any) -> None:
    """Close ``resource`` (an httpx client or aiohttp session) as its loop shuts down."""
    if resource not in _CLOSERS:
        closer = _CLOSERS[resource] = _closer(weakref.ref(resource))
        await anext(closer)  # its first step registers it with the running loop


async def _closer(resource: weakref.ref[Any]) -> AsyncGenerator[None]:
    try:
        yield
    finally:
        if (alive := resource()) is not None:
            await (getattr(alive, "aclose", None) or alive.close)()
