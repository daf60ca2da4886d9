"""What cfgenai adds on the wire, on every transport google-genai uses.

google-genai sends sync and async requests with httpx (or its fork httpx2), and async
requests with aiohttp when that is installed. Each dict below reaches each library, which
keeps only the arguments it accepts: ``event_hooks`` for httpx, ``middlewares`` for aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _otel
from ._responses import gateway_error, redirect_error
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
    a 3xx raises :class:`RedirectError` (google-genai would resend every credential to it). ``share_tls`` hands over
    the shared TLS contexts (Vertex AI keeps google-genai's own, which may carry an mTLS
    client certificate). ``otel`` adds the current OpenTelemetry span's ids (``_otel``).
    """
    sync_hooks: dict[str, list[Any]] = {
        "request": [_drop_key] if drop_key else [],
        "response": [_raise_gateway_error],
    }
    async_hooks: dict[str, list[Any]] = {
        "request": [_drop_key_async] if drop_key else [],
        "response": [_raise_gateway_error_async],
    }
    middleware = _aiohttp_drop_key if drop_key else _aiohttp_gateway_errors
    if otel:
        sync_hooks["request"].append(_otel.request_hook)
        async_hooks["request"].append(_otel.async_request_hook)
    sync: dict[str, Any] = {"event_hooks": sync_hooks, "follow_redirects": False}
    async_: dict[str, Any] = {
        "event_hooks": async_hooks,
        "middlewares": (_otel.aiohttp_middleware, middleware) if otel else (middleware,),
        "follow_redirects": False,  # httpx
        "allow_redirects": False,  # aiohttp
    }
    if share_tls:
        sync["verify"], async_["ssl"] = contexts()
        async_["verify"] = sync["verify"]
    return sync, async_


def _drop_key(request: Any) -> None:
    request.headers.pop(KEY_HEADER, None)


async def _drop_key_async(request: Any) -> None:
    request.headers.pop(KEY_HEADER, None)


def _raise_gateway_error(response: Any) -> None:
    _refuse_redirect(response.status_code, str(response.request.url), response)
    if response.status_code >= 400:
        error = gateway_error(response.status_code, response.read(), response)
        if error is not None:
            raise error


async def _raise_gateway_error_async(response: Any) -> None:
    _refuse_redirect(response.status_code, str(response.request.url), response)
    if response.status_code >= 400:
        error = gateway_error(response.status_code, await response.aread(), response)
        if error is not None:
            raise error


async def _aiohttp_drop_key(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    request.headers.popall(KEY_HEADER, None)
    return await _aiohttp_gateway_errors(request, handler)


async def _aiohttp_gateway_errors(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    response = await handler(request)
    if 300 <= response.status < 400:
        response.release()
    _refuse_redirect(response.status, str(request.url), response)
    if response.status >= 400:
        error = gateway_error(response.status, await response.read(), response)
        if error is not None:
            response.release()
            raise error
    return response


def _refuse_redirect(status: int, url: str, response: Any) -> None:
    if 300 <= status < 400:
        raise redirect_error(status, url, response.headers.get("location"), response)
