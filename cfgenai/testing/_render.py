"""Answers on the wire (JSON, server-sent events, scripted breakage) and the log line."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from starlette.concurrency import iterate_in_threadpool
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Send

from .._secrets import mask_header
from ._answers import Answer, Fault
from ._journal import RecordedRequest, masked_query, printable
from ._protocol import is_shutdown_noise
from ._resources import Download


class Dropped(Exception):
    """Raised mid-stream to cut the connection, as a failing network would."""


class _QuietDrops(logging.Filter):
    """Scripted drops and a shutdown cutting requests short are expected: no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        dropped = record.exc_info and isinstance(record.exc_info[1], Dropped)
        return not (dropped or is_shutdown_noise(record))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


def render(answer: Answer) -> Response:
    fault = answer.fault or Fault(None, 0)
    headers = answer.headers
    if fault.malformed:
        if answer.stream:
            garbled = _events([b'{"candidates": [{"content": {"parts": [{"text": "cut'], fault)
            return StreamingResponse(garbled, media_type="text/event-stream", headers=headers)
        return Response(b'{"candidates": [{"content": ', 200, headers, "application/json")
    if answer.stream:
        events = [json.dumps(chunk).encode() for chunk in answer.body]
        if answer.done_marker:
            events.append(b"[DONE]")
        return StreamingResponse(
            _events(events, fault), media_type="text/event-stream", headers=headers
        )
    if fault.drop_after is not None:
        return StreamingResponse(_events([], fault), headers=headers)
    if isinstance(answer.body, str):
        return Response(answer.body, answer.status, headers, "text/plain")
    if isinstance(answer.body, Download):  # a file's bytes, as they are stored
        return StreamingResponse(
            iterate_in_threadpool(answer.body.blocks()), answer.status, headers
        )
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def send_json(send: Send, answer: Answer, *, websocket: bool = False) -> None:
    """``answer`` as JSON through a bare ASGI ``send``: an HTTP response closing its connection,
    or with ``websocket`` the refusal of a WebSocket handshake."""
    body = json.dumps(answer.body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    kind = "websocket.http.response" if websocket else "http.response"
    if not websocket:
        headers.append((b"connection", b"close"))
    await send({"type": f"{kind}.start", "status": answer.status, "headers": headers})
    await send({"type": f"{kind}.body", "body": body})


async def _events(events: list[bytes], fault: Fault) -> AsyncIterator[bytes]:
    for i, event in enumerate(events):
        if fault.drop_after is not None and i >= fault.drop_after:
            raise Dropped
        if i and fault.chunk_delay:
            await asyncio.sleep(fault.chunk_delay)
        yield b"data: " + event + b"\r\n\r\n"
    if fault.drop_after is not None:  # fewer chunks than asked for: cut after the last
        raise Dropped


def log_line(request: RecordedRequest, answer: Answer, seconds: float) -> str:
    """One line, whatever the request held: control characters escaped, credentials masked."""
    query = f"?{masked_query(request.query)}" if request.query else ""
    shown = [
        f"{name}={printable(mask_header(name, request.headers[name]))}"
        for name in ("cf-aig-authorization", "x-goog-api-key", "authorization")
        if name in request.headers
    ]
    cache = answer.headers.get("cf-aig-cache-status")
    extra = f" cache={cache}" if cache else ""
    return (
        f"{printable(request.method)} {printable(request.path)}{query} -> {answer.status}{extra} "
        f"{' '.join(shown) or 'no credentials'} ({seconds * 1000:.1f} ms)"
    )
