"""The HTTP server under the emulator: uvicorn on a bound loopback socket, in a background
thread (tests) or in the foreground (``cfgenai gateway``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from ._protocol import CheckedWebSocket, Limits, guarded_protocol


class _Server(uvicorn.Server):
    """uvicorn's server, whose event loop reports a repeated error once a second (out of
    file descriptors, asyncio would report every failed accept, thousands a second), and which
    stops at once when no answer is being sent (uvicorn's takes 0.1 to 0.2 s in any case)."""

    stopping: asyncio.Event
    _loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_OncePerSecond())
        self.stopping = asyncio.Event()
        await super().serve(sockets)

    async def main_loop(self) -> None:
        counter = 0  # uvicorn's ticks (the date header), each cut short by stop()
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for connection in list(self.server_state.connections):
            connection.shutdown()  # an idle one closes now, a busy one once its answer is sent
        await asyncio.sleep(0)  # (their ends are seen on the loop's next turn)
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)  # waits for them, up to timeout_graceful_shutdown
            return
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()

    def stop(self) -> None:
        """Stop serving (from any thread)."""
        self.should_exit = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed: it stopped already
                self._loop.call_soon_threadsafe(self.stopping.set)


class _OncePerSecond:
    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._hidden: Counter[str] = Counter()

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message, now = str(context.get("message", "")), time.monotonic()
        if now - self._last.get(message, -1.0) < 1.0:
            self._hidden[message] += 1
            return
        self._last[message] = now
        hidden = self._hidden.pop(message, 0)
        if hidden:
            context = {**context, "message": f"{message} (and {hidden} more in the last second)"}
        loop.default_exception_handler(context)


class Server:
    def __init__(
        self,
        app: ASGIApp,
        host: str,
        port: int,
        *,
        limits: Limits,
        idle_timeout: float,
        on_connection: Callable[[int], int],
    ) -> None:
        self.host = host
        self.port = port
        self._app = app
        self._protocol = guarded_protocol(limits, on_connection)
        self._idle_timeout = idle_timeout
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def _bind(self) -> tuple[_Server, socket.socket]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it, a kept-alive connection waits for
        # the client's delayed ACK (about 40 ms) between the response's header and body writes.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.listen(2048)  # connections wait in the backlog until the server runs
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            http=self._protocol,
            ws=CheckedWebSocket,
            # Between requests on a kept-alive connection; uvicorn types it int but uses it
            # as a delay, so a test can make it short.
            timeout_keep_alive=self._idle_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=1,
        )
        return _Server(config), sock

    def start(self) -> None:
        server, sock = self._bind()
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="cfgenai-emulator", daemon=True
        )
        self._thread.start()
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the gateway emulator could not start on {self.host}")
            time.sleep(0.002)
        self._server = server

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        server, sock = self._bind()
        self._server = server

        # uvicorn shuts down gracefully on these, then raises the signal again: answer that
        # second one here, so the process ends normally instead of dying of it; one that comes
        # before uvicorn listens for it (just after on_ready) stops the server as it starts.
        def stop(*_: object) -> None:
            server.stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        if on_ready is not None:
            on_ready()
        try:
            server.run(sockets=[sock])
        finally:
            self._server = None
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.stop()
            self._thread.join(timeout=5)
        self._server = None
