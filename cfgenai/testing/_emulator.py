"""A local HTTP server that answers like Cloudflare AI Gateway in front of Google AI Studio."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from starlette.types import Receive, Scope, Send

from . import _google
from ._answers import GATEWAY_ERRORS, Fault
from ._gateway import Gateway
from ._journal import Journal, RecordedRequest
from ._render import log_line, render
from ._script import Reply, Script
from ._server import Server


@dataclass(repr=False)
class GatewayEmulator:
    """Cloudflare AI Gateway for Google AI Studio, Vertex AI and the OpenAI-compatible
    endpoint, on a loopback port. Paths are ``/v1/{account}/{gateway}/{provider}/...``, or
    ``/{provider}/...`` as on a custom domain.

    - ``token``: the gateway requires ``cf-aig-authorization: Bearer <token>`` (or the token in
      place of the provider key); ``None`` makes an unauthenticated gateway.
    - ``access_token``: a Cloudflare Access token accepted instead, in ``cf-access-token``.
    - ``google_keys``: keys the stand-in for Google accepts; ``None`` accepts any key.
    - ``stored_keys``: BYOK keys by alias; with no provider key the gateway adds the one named
      by ``cf-aig-byok-alias`` (default ``default``).
    - ``account_id``/``gateway_id``: the only ids routed (``None`` routes any).
    - ``cache_ttl``: the gateway's own cache setting in seconds (``None``: cache only when a
      request sends ``cf-aig-cache-ttl``); ``clock`` expires cached answers, so tests can
      move time without sleeping.
    - ``log``: called with one line per request, secrets masked.

    Option headers are checked with the client's rules; a bad one gets a 400 with the
    gateway's error body and code 2005 (the emulator's choice: the real code for this case
    is not documented). Use it as a context manager, or call :meth:`start`/:meth:`stop`.
    """

    token: str | None = None
    access_token: str | None = None
    google_keys: Iterable[str] | None = None
    stored_keys: Mapping[str, str] = field(default_factory=dict)
    account_id: str | None = None
    gateway_id: str | None = None
    cache_ttl: int | None = None
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self.google_keys = None if self.google_keys is None else frozenset(self.google_keys)
        self._journal = Journal()
        self._script = Script()
        self._gateway = Gateway(self, self._journal, self._script)
        self._server = Server(self._app, self.host, self.port)

    def __repr__(self) -> str:
        state = f"listening on {self.url}" if self._server.running else "stopped"
        return f"GatewayEmulator({state}, requests={len(self._journal)})"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve from a background thread; returns once the port accepts connections."""
        self._server.start()
        self.port = self._server.port
        return self

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM (for ``cfgenai gateway``)."""

        def ready() -> None:
            self.port = self._server.port
            if on_ready is not None:
                on_ready()

        self._server.serve_forever(on_ready=ready)

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what clients need ----------------------------------------------------------------

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The gateway root to use as ``CF_AIG_BASE_URL``."""
        return f"{self.url}/v1/{self.account_id or 'acc'}/{self.gateway_id or 'gw'}"

    def env(self) -> dict[str, str]:
        """Environment variables that point a cfgenai client at this emulator."""
        env = {"CF_AIG_BASE_URL": self.base_url}
        if self.token:
            env["CF_AIG_TOKEN"] = self.token
        return env

    # -- journal --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the gateway received since the last :meth:`reset`, oldest first."""
        return self._journal.requests

    @property
    def last_request(self) -> RecordedRequest:
        last = self._journal.last
        if last is None:
            raise AssertionError("the gateway emulator has received no request")
        return last

    def requests_to(self, model: str) -> list[RecordedRequest]:
        """The requests received for ``model``, oldest first."""
        return [r for r in self.requests if r.model == model]

    @property
    def upstream_requests(self) -> list[RecordedRequest]:
        """Every request the gateway sent on to Google (one per attempt), as Google saw it:
        no ``cf-aig-*`` headers, and the provider key the gateway chose."""
        return self._journal.upstream

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened since the last :meth:`reset`."""
        return self._journal.connections

    # -- scripted answers and faults ------------------------------------------------------

    def reply(self, *answers: Reply, chunk_delay: float = 0.0) -> None:
        """Answer generation calls with these, in order; the last one then stays.

        Each is a text, the chunks of a stream (joined for a non-streamed call), or a
        function of the :class:`RecordedRequest` returning either. ``chunk_delay`` spaces
        streamed chunks this many seconds apart.
        """
        self._script.reply(list(answers), chunk_delay)

    def fail_next(
        self,
        status: int,
        body: Any = None,
        *,
        times: int = 1,
        delay: float = 0,
        retry_after: float | None = None,
        route: str | None = None,
    ) -> None:
        """Make Google answer the next ``times`` upstream attempts with ``status`` and ``body``
        (default: Google's error body), after ``delay`` seconds, with ``Retry-After`` if given.
        ``route`` limits this to requests whose path contains it (``":streamGenerateContent"``,
        a model name...)."""
        body = body if body is not None else _google.error(status)
        fault = Fault(route, times, status, body, retry_after=retry_after, delay=delay)
        self._script.add_fault(fault)

    def stall_next(self, seconds: float, *, times: int = 1, route: str | None = None) -> None:
        """Delay the next answers' headers by ``seconds``."""
        self._script.add_fault(Fault(route, times, delay=seconds))

    def slow_stream_next(
        self, chunk_delay: float, *, times: int = 1, route: str | None = None
    ) -> None:
        """Space the next streams' chunks ``chunk_delay`` seconds apart."""
        self._script.add_fault(Fault(route, times, chunk_delay=chunk_delay))

    def drop_next(self, *, after_chunks: int = 1, times: int = 1, route: str | None = None) -> None:
        """Cut the connection of the next streams after ``after_chunks`` chunks (a non-streamed
        answer is cut before its body)."""
        self._script.add_fault(Fault(route, times, drop_after=after_chunks))

    def garble_next(self, *, times: int = 1, route: str | None = None) -> None:
        """Answer the next requests with status 200 and a body that is not valid JSON."""
        self._script.add_fault(Fault(route, times, malformed=True))

    def refuse_next(self, code: int, *, times: int = 1, route: str | None = None) -> None:
        """Make the gateway itself refuse the next ``times`` requests with error ``code``
        (2001, 2003, 2005, 2009, 2040 or 7000)."""
        GATEWAY_ERRORS[code]  # fail early on an unknown code
        self._script.add_refusal(Fault(route, times), code)

    def reset(self) -> None:
        """Forget recorded requests, connections, scripted answers, faults and the cache."""
        self._journal.clear()
        self._script.clear()
        self._gateway.cache.clear()

    # -- the ASGI application -------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        recorded = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=b"".join(chunks),
        )
        self._journal.received(recorded, scope.get("client"))
        started = time.perf_counter()
        answer = await self._gateway.answer(recorded)
        response = render(answer)
        if self.log is not None:
            self.log(log_line(recorded, answer, time.perf_counter() - started))
        await response(scope, receive, send)
