"""What cfgenai adds on the wire, on every transport google-genai uses.

google-genai sends sync and async requests with httpx (or its fork httpx2), and async
requests with aiohttp when that is installed. Each dict below reaches each library, which
keeps only the arguments it accepts: ``event_hooks`` for httpx, ``middlewares`` for aiohttp.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic_core import SchemaSerializer, core_schema

from . import _otel
from ._tls import contexts

if TYPE_CHECKING:
    import aiohttp

KEY_HEADER = "x-goog-api-key"


def client_args(
    *, drop_key: bool, share_tls: bool = True, otel: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(client_args, async_client_args)`` for google-genai's ``HttpOptions``.

    ``drop_key`` removes ``x-goog-api-key`` from every request (byok mode). Every transport
    turns the gateway's own error bodies into :class:`GatewayError`, and follows no redirect:
    a 3xx raises :class:`RedirectError` (google-genai would resend every credential to it).
    ``share_tls`` hands over the shared TLS contexts (Vertex AI keeps google-genai's own, which
    may carry an mTLS client certificate); without them the dicts copy, pickle and serialise.
    ``otel`` adds the ids of the OpenTelemetry span current at sending (``_otel``).
    """
    sync_hooks: dict[str, list[Any]] = {
        "request": [DropKey()] if drop_key else [],
        "response": [GatewayErrors()],
    }
    async_hooks: dict[str, list[Any]] = {
        "request": [DropKeyAsync()] if drop_key else [],
        "response": [GatewayErrorsAsync()],
    }
    if otel:
        sync_hooks["request"].append(TraceHeaders())
        async_hooks["request"].append(TraceHeadersAsync())
    # No follow_redirects=False (httpx) or allow_redirects=False (aiohttp): the response hooks
    # and the middleware see each 3xx before it could be followed, and raise. Each key of the
    # async dict costs google-genai two signature inspections per client built.
    sync: dict[str, Any] = {"event_hooks": sync_hooks}
    async_: dict[str, Any] = {
        "event_hooks": async_hooks,
        "middlewares": (AiohttpMiddleware(drop_key=drop_key, otel=otel),),
    }
    if share_tls:  # google-genai gives the async httpx client the sync one's `verify`
        sync["verify"], async_["ssl"] = contexts()
    return sync, async_


def _json_name(hook: _Hook) -> str:
    return f"cfgenai:{hook!r}"


@dataclasses.dataclass(frozen=True)
class _Hook:
    # Hooks are values, not functions: frameworks copy, deep-copy, pickle and JSON-serialise
    # the HttpOptions they are given (llama-index calls to_json_dict()). In JSON a hook is
    # its name; a JSON copy cannot carry code, and httpx refuses the name before sending.
    __pydantic_serializer__: ClassVar[SchemaSerializer] = SchemaSerializer(
        core_schema.any_schema(
            serialization=core_schema.plain_serializer_function_ser_schema(
                _json_name, when_used="json"
            )
        )
    )


@dataclasses.dataclass(frozen=True)
class DropKey(_Hook):
    """httpx request hook: removes ``x-goog-api-key``."""

    def __call__(self, request: Any) -> None:
        request.headers.pop(KEY_HEADER, None)


@dataclasses.dataclass(frozen=True)
class DropKeyAsync(_Hook):
    """httpx async request hook: removes ``x-goog-api-key``."""

    async def __call__(self, request: Any) -> None:
        request.headers.pop(KEY_HEADER, None)


@dataclasses.dataclass(frozen=True)
class TraceHeaders(_Hook):
    """httpx request hook: the current OpenTelemetry span's ids, unless the request has its own."""

    def __call__(self, request: Any) -> None:
        _otel.add_trace_headers(request.headers)


@dataclasses.dataclass(frozen=True)
class TraceHeadersAsync(_Hook):
    """httpx async request hook: the same."""

    async def __call__(self, request: Any) -> None:
        _otel.add_trace_headers(request.headers)


@dataclasses.dataclass(frozen=True)
class GatewayErrors(_Hook):
    """httpx response hook: raises on redirects and on the gateway's own error bodies."""

    def __call__(self, response: Any) -> None:
        _refuse_redirect(response.status_code, str(response.request.url), response)
        if response.status_code >= 400:
            error = _gateway_error(response.status_code, response.read(), response)
            if error is not None:
                raise error


@dataclasses.dataclass(frozen=True)
class GatewayErrorsAsync(_Hook):
    """httpx async response hook: raises on redirects and on the gateway's own error bodies."""

    async def __call__(self, response: Any) -> None:
        _refuse_redirect(response.status_code, str(response.request.url), response)
        if response.status_code >= 400:
            error = _gateway_error(response.status_code, await response.aread(), response)
            if error is not None:
                raise error


@dataclasses.dataclass(frozen=True)
class AiohttpMiddleware(_Hook):
    """aiohttp client middleware: all of the above, each as its flag asks."""

    drop_key: bool
    otel: bool = False

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if self.drop_key:
            request.headers.popall(KEY_HEADER, None)
        if self.otel:
            _otel.add_trace_headers(request.headers)
        response = await handler(request)
        if 300 <= response.status < 400:
            response.release()
        _refuse_redirect(response.status, str(request.url), response)
        if response.status >= 400:
            error = _gateway_error(response.status, await response.read(), response)
            if error is not None:
                response.release()
                raise error
        return response


def _refuse_redirect(status: int, url: str, response: Any) -> None:
    if 300 <= status < 400:
        from ._responses import redirect_error

        raise redirect_error(status, url, response.headers.get("location"), response)


def _gateway_error(status: int, body: bytes, response: Any) -> Exception | None:
    from ._responses import gateway_error  # on the first error, not on the way to an answer

    return gateway_error(status, body, response)
