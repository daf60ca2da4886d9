"""Each connection's guard: deadlines for a request's headers and body, and a JSON answer in
the gateway's shape to what uvicorn would otherwise answer in plain text; on a WebSocket, a
close with a reason for a text message that is not UTF-8.

uvicorn's only connection timeout is ``timeout_keep_alive``, between requests: a client that
connects and says nothing, or trickles a request's headers or body, is never dropped (uvicorn
issue #1192 and its slowloris reports). The deadlines below are absolute, so trickling does not
reset them, and they end once a request has arrived, so long answers are never cut.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode, Frame

from ._answers import gateway_error

# The limit on a request's line and headers together (h11's default; httptools has none);
# larger ones get 431.
MAX_HEAD = 16 * 1024
_COMMON_METHODS = (b"GET ", b"POST ", b"PATCH ", b"DELETE ", b"PUT ", b"HEAD ", b"OPTIONS ")
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True)
class Limits:
    header_timeout: float  # from connecting (or from a request's first byte) to its last header
    body_timeout: float  # from the last header to the body's last byte


def raw_response(code: int, detail: str | None = None) -> bytes:
    """A gateway error as bytes, closing the connection, for when the HTTP state is broken."""
    answer = gateway_error(code, detail)
    body = json.dumps(answer.body).encode()
    head = (
        f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def guarded_protocol(
    limits: Limits, on_connection: Callable[[int], int]
) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol with deadlines. Each time a connection sends, it calls
    ``on_connection`` with the number that call last returned to it (-1 at first), so that a
    journal can count the connections in use since it was cleared."""

    # One sweep over all connections now and then, not a timer per request: arming and
    # cancelling a timer for each request cost about 5% of the emulator's throughput.
    sweep_every = min(limits.header_timeout, limits.body_timeout, 4.0) / 4
    live: set[Guarded] = set()
    sweeping: list[asyncio.AbstractEventLoop] = []

    def sweep(loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in [c for c in live if c._expires is not None and c._expires <= now]:
            connection._expired()
        loop.call_later(sweep_every, sweep, loop)

    class Guarded(HttpToolsProtocol):
        _expires: float | None = None
        _waiting_for: str | None = None  # "headers", "body" or None
        _seen = -1  # what on_connection last returned
        _started = False  # a request has begun and not yet arrived whole
        _head = 0  # bytes received while its line and headers were incomplete
        _method: str | None = None  # the request's method, when httptools parses it as GET

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            live.add(self)
            if self.loop not in sweeping:
                sweeping[:] = [self.loop]
                self.loop.call_later(sweep_every, sweep, self.loop)
            self._expect("headers", limits.header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            live.discard(self)
            self._expect(None, 0)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            self._seen = on_connection(self._seen)
            if self._waiting_for is None:
                self._expect("headers", limits.header_timeout)  # a kept-alive connection's next
            if not self._started and not data.startswith(_COMMON_METHODS):
                # httptools refuses a method not in its list, where h11 and the gateway take any
                # token: parse it as a GET, and hand the app the method it was sent.
                method, space, rest = data.partition(b" ")
                if space and _TOKEN.fullmatch(method):
                    self._method, data = method.decode(), b"GET " + rest
            super().data_received(data)
            if self.transport.get_protocol() is not self:  # upgraded to a WebSocket: not ours
                live.discard(self)
                self._expect(None, 0)
            elif self._waiting_for == "headers" and not self.transport.is_closing():
                self._head += len(data)
                if self._head > MAX_HEAD:
                    detail = f"the request line and headers exceed {MAX_HEAD} bytes"
                    self._answer_raw(9431, detail)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._started, self._head = True, 0

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            if self._method is not None:
                self.scope["method"], self._method = self._method, None
            self._expect("body", limits.body_timeout)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._started = False
            self._expect(None, 0)

        def _expect(self, what: str | None, seconds: float) -> None:
            self._waiting_for = what
            self._expires = None if what is None else self.loop.time() + seconds

        def _expired(self) -> None:
            waited_for = self._waiting_for
            self._expect(None, 0)
            if self.transport.is_closing():
                return
            # A 408 unless an answer is under way (to this request, or to one before it).
            if waited_for == "body":
                answering = self.cycle.response_started
            else:
                answering = self.cycle is not None and not self.cycle.response_complete
            if self._started and not answering:
                detail = f"the request's {waited_for} did not arrive in time"
                self.transport.write(raw_response(9408, detail))
            self.transport.close()  # a connection that never said anything just closes

        def send_400_response(self, msg: str) -> None:
            self._answer_raw(9400, "not a valid HTTP/1.1 request")

        def _answer_raw(self, code: int, detail: str) -> None:
            # The request is broken and the parser can go no further: answer in bytes, unless
            # that would cut into an answer to a request pipelined before it (then that answer
            # ends the connection).
            earlier = None if self._waiting_for == "body" else self.cycle  # an earlier request's
            self._expect(None, 0)
            if earlier is not None and not earlier.response_complete:
                earlier.keep_alive = False
                self.flow.pause_reading()
                return
            self.transport.write(raw_response(code, detail))
            self.transport.close()

    return Guarded


class CheckedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, closing a text message that is not UTF-8 with 1007 and
    a reason: uvicorn (0.35 to 0.54 at least) logs a traceback for it and closes with none."""

    _text: codecs.IncrementalDecoder | None = None  # the text message being received

    def handle_text(self, event: Frame) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")()
        if self._utf8(event):
            super().handle_text(event)

    def handle_bytes(self, event: Frame) -> None:
        self._text = None
        super().handle_bytes(event)

    def handle_cont(self, event: Frame) -> None:
        if self._utf8(event):
            super().handle_cont(event)

    def _utf8(self, event: Frame) -> bool:
        """Whether a text message's frame continues it as UTF-8; if not, the connection is
        closed (and the app told so), as uvicorn closes on a frame it cannot parse."""
        if self._text is None:
            return True
        try:
            self._text.decode(event.data, final=event.fin)
        except UnicodeDecodeError as exc:
            self._text = None
            self.conn.fail(CloseCode.INVALID_DATA, f"the message is not UTF-8: {exc.reason}")
            self.handle_parser_exception()
            return False
        return True


def is_shutdown_noise(record: Any) -> bool:
    """uvicorn's log records of a shutdown that cut requests short: expected, not errors."""
    exc = record.exc_info[1] if record.exc_info else None
    return isinstance(exc, asyncio.CancelledError) or str(record.msg).startswith("Cancel %s")
