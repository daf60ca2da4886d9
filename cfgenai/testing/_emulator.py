"""A local HTTP server that answers like Cloudflare AI Gateway in front of Google AI Studio."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._errors import ConfigError
from . import _google
from ._answers import GATEWAY_ERRORS, POLICY_REFUSALS, Answer, Fault, gateway_error
from ._gateway import Gateway
from ._journal import Journal, RecordedRequest, printable
from ._logs import LogStore
from ._protocol import MAX_HEAD, Limits
from ._render import log_line, render, send_json
from ._script import Refusal, Reply, Script
from ._server import Server

# Accepted when no stored key is configured, so byok works at once (here, in the CLI).
DEFAULT_STORED_KEY = "cfgenai-emulator-stored-key"
# What env() gives a client of a gateway without a token: it needs one in byok mode.
OPEN_GATEWAY_TOKEN = "cfgenai-emulator-open-gateway"  # noqa: S105 - made up


@dataclass(repr=False)
class GatewayEmulator:
    """Cloudflare AI Gateway for Google AI Studio, Vertex AI and the OpenAI-compatible
    endpoint, on a loopback port. Paths are ``/v1/{account}/{gateway}/{provider}/...``, or
    ``/{provider}/...`` as on a custom domain.

    - ``token``: the gateway requires ``cf-aig-authorization: Bearer <token>`` (or the token in
      place of the provider key); ``None`` makes an unauthenticated gateway.
    - ``access_token``: a Cloudflare Access token accepted instead, in ``cf-access-token``.
    - ``google_keys``: keys (and Vertex AI access tokens) the stand-in for Google accepts, or
      a function saying whether it accepts one (say, tokens a test's token server issued);
      ``None`` accepts any key.
    - ``stored_keys``: BYOK keys by alias; with no provider key the gateway adds the one named
      by ``cf-aig-byok-alias`` (default ``default``). By default one key is stored, so byok
      works at once, as with ``cfgenai gateway``; ``{}`` stores none.
    - ``account_id``/``gateway_id``: the only ids routed (``None`` routes any).
    - ``cache_ttl``: the gateway's own cache setting in seconds (``None``: cache only when a
      request sends ``cf-aig-cache-ttl``); ``clock`` expires cached answers, so tests can
      move time without sleeping.
    - ``log``: called with one line per request, secrets masked, control characters escaped.
    - ``host``/``port``: a loopback address only, unless ``allow_remote`` (the emulator has no
      real security); port 0 picks a free one.
    - ``journal_size``: the requests remembered (and as many upstream attempts), oldest
      forgotten first; ``journal_bytes``: the bodies kept in full across them, older ones kept
      as ``body_sha256`` and ``body_size`` only, and as much again for the rest of them
      (headers): beyond it the oldest requests are forgotten, however few.
    - ``log_bytes``: the log entries (``logs``) kept, by their rough weight in memory
      (about 1.2 KB each, more with long paths or metadata), oldest dropped first; at most
      ``journal_size`` of them.
    - ``cache_bytes``: the answers the gateway's cache keeps, oldest (and expired) first out.
    - ``upload_sessions``: the resumable uploads that may be unfinished at once (each holds
      a temporary file open); a start beyond them gets Google's 429 ``RESOURCE_EXHAUSTED``,
      and the uploads under way go on. ``upload_ttl``: seconds (on ``clock``) an unfinished
      upload may wait for its next chunk before it is forgotten and its file closed.
    - ``body_limit``: larger request bodies get 413, before they are read.
    - ``header_timeout``/``body_timeout``: seconds a client has to send a request's headers
      (counted from connecting, or from its first byte on a kept-alive connection) and then
      its body; ``idle_timeout``: seconds a kept-alive connection may wait between requests
      (longer than httpx and aiohttp keep one, 5 and 15 s, so that a client drops its idle
      connection before the emulator closes it under a request, even between tests).
      A late client gets 408 and a closed connection.

    - ``unified_billing``: the account has Unified Billing, so a request with no provider key
      and no stored key under its alias is paid from credits (``upstream_requests`` then show
      the key ``cfgenai-emulator-unified-billing``), unless it sends
      ``cf-aig-no-wholesale: true``: then 400 with code 2044 (the emulator's choice: Cloudflare
      documents the 400, not a code). Off, such a request reaches Google without a key.
    - ``unified_billing_limit``: ``(requests, seconds)``, e.g. ``(200, 60)``, Unified Billing's
      rate limit: beyond it, 429 with code 2003 (on ``clock``). ``None``: no limit.
    - ``guardrails``: Guardrails are on, so a streamed call is answered as one buffered JSON
      payload, as the real gateway does.
    - ``api_token``: the Cloudflare API token the logs API (``/client/v4/...``) requires;
      ``None`` accepts any bearer token.
    - ``policies``: the gateway has Policies (beta): a request passes when one of these
      functions of the ``RecordedRequest`` allows it, else 403 "Access denied by policy"
      (deny by default); cached answers skip them. ``None``: no policies.
    - ``batch_polls``: how many ``batches.get`` still see a new batch pending; the next one
      finds it succeeded, with its answers.
    - ``models``: the names of the models served, replacing Google's list as the emulator
      knows it (``cfgenai.testing._models``); a call naming any other model, or a method the
      model lacks (an embedding model asked to generate, say), gets Google's 404
      ``NOT_FOUND``, on every route. ``add_model`` adds one until the next reset.
    - ``upload_urls``: where a resumable upload's start sends the chunks: ``"google"``,
      Google's own URL, as the real gateway most likely passes it on (cfgenai's clients put it
      back on the gateway); ``"gateway"``, the emulator's own URL for the same path, which a
      bare ``genai.Client`` follows without leaving the emulator.

    Beyond model calls it serves Google's resources, held in memory: files (resumable
    uploads, streamed to temporary files; get, list, delete, download), cached contents,
    batches (inline and file-based), file search stores and their operations, interactions
    (created whole or streamed, read, deleted), and the Live API over WebSocket at
    ``{root}/google``. A route it does not serve answers 404 saying so.

    Every request that passes authentication gets a request id (a UUIDv7, also its log id
    and, unless it named one, its event id) and a log entry (``logs``), which the logs API
    reads and annotates (``GET``/``PATCH /client/v4/accounts/{a}/ai-gateway/gateways/{g}/logs/{id}``).

    Malformed requests get a 4xx in the gateway's error shape with an ``internalCode`` of 9
    followed by the status (9400, 9408, 9413, 9431): Cloudflare documents no codes for these.

    Option headers are checked with Cloudflare's documented rules, written down apart from the
    client's; a bad one gets a 400 with the gateway's error body and code 2005 (the emulator's
    choice: the real code for this case is not documented). Use it as a context manager, or
    call ``start``/``stop``.
    """

    token: str | None = None
    access_token: str | None = None
    google_keys: Iterable[str] | Callable[[str], bool] | None = None
    stored_keys: Mapping[str, str] = field(default_factory=lambda: {"default": DEFAULT_STORED_KEY})
    account_id: str | None = None
    gateway_id: str | None = None
    cache_ttl: int | None = None
    clock: Callable[[], float] = time.monotonic
    log: Callable[[str], None] | None = None
    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    journal_size: int = 10_000
    journal_bytes: int = 16 * 2**20
    log_bytes: int = 16 * 2**20
    cache_bytes: int = 32 * 2**20
    upload_sessions: int = 64
    upload_ttl: float = 600.0
    body_limit: int = 32 * 2**20
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    idle_timeout: float = 30.0
    unified_billing: bool = False
    unified_billing_limit: tuple[int, float] | None = None
    guardrails: bool = False
    api_token: str | None = None
    policies: Sequence[Callable[[RecordedRequest], bool]] | None = None
    batch_polls: int = 1
    upload_urls: Literal["google", "gateway"] = "google"
    models: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.google_keys is not None and not callable(self.google_keys):
            self.google_keys = frozenset(self.google_keys)
        positive = (
            "journal_size",
            "body_limit",
            "header_timeout",
            "body_timeout",
            "idle_timeout",
            "upload_ttl",
        )
        problems = [
            f"{name} must be a positive number" for name in positive if not getattr(self, name) > 0
        ]
        problems += [
            f"{name} must be 0 or more"
            for name in ("journal_bytes", "log_bytes", "upload_sessions")
            if getattr(self, name) < 0
        ]
        if not self.allow_remote and not _loopback(self.host):
            problems.append(
                f"the emulator will not listen on {printable(self.host)}, which is not a loopback "
                "address: pass allow_remote=True if you mean it (it has no real security)"
            )
        if problems:
            raise ConfigError(problems)
        self._journal = Journal(self.journal_size, self.journal_bytes)
        self._script = Script()
        self._logs = LogStore(self.journal_size, self.log_bytes)
        self._gateway = Gateway(self, self._journal, self._script, self._logs)
        self._server = Server(
            self._app,
            self.host,
            self.port,
            limits=Limits(self.header_timeout, self.body_timeout),
            idle_timeout=self.idle_timeout,
            on_connection=self._journal.connected,
        )
        self._diverted: ASGIApp | None = None  # a cassette's player or recorder (_cassette)

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
        """Stop serving; the files uploaded to it go (their temporary files are closed), what
        it recorded stays for the test to read."""
        self._server.stop()
        self._gateway.resources.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
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
        """Environment variables that point a cfgenai client at this emulator (a gateway
        without a token takes any, so a made-up one stands in)."""
        env = {
            "CF_AIG_BASE_URL": self.base_url,
            "CLOUDFLARE_API_BASE_URL": self.api_base_url,
            "CF_AIG_TOKEN": self.token or OPEN_GATEWAY_TOKEN,
        }
        if self.api_token:
            env["CLOUDFLARE_API_TOKEN"] = self.api_token
        return env

    @property
    def api_base_url(self) -> str:
        """The root of the emulator's Cloudflare REST API, for ``CLOUDFLARE_API_BASE_URL``."""
        return f"{self.url}/client/v4"

    # -- journal --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request the gateway received since the last ``reset``, oldest first."""
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
    def logs(self) -> list[dict[str, Any]]:
        """The gateway's log entries, oldest first, as the logs API returns them (with the
        feedback, score and metadata given to them), plus ``billing``: who paid the provider
        (``"request"``, ``"stored"``, ``"unified"``, or ``None``)."""
        return self._logs.entries

    def log_entry(self, log_id: str) -> dict[str, Any]:
        """The log entry ``log_id``, as ``logs`` shows it."""
        entry = self._logs.get(log_id)
        if entry is None:
            raise AssertionError(f"the gateway emulator has no log entry {printable(log_id)}")
        return entry

    @property
    def connections(self) -> int:
        """How many TCP connections sent anything since the last ``reset`` (one kept alive from
        before it counts when it next sends)."""
        return self._journal.connections

    # -- scripted answers and faults ------------------------------------------------------

    def reply(self, *answers: Reply, chunk_delay: float = 0.0) -> None:
        """Answer generation calls (``generate_content``, streams, chats, batches' requests,
        Live turns, interactions) with these, in order; the last one then stays.

        Each is a text; any Gemini answer, as the JSON of a ``GenerateContentResponse`` (a
        dict) or a google-genai ``types.GenerateContentResponse``: function calls, JSON for a
        ``response_schema``, several candidates, finish reasons, safety blocks, usage; a list
        of those, the chunks of a stream (a non-streamed call gets them merged); or a function
        of the ``RecordedRequest`` returning any of these. ``chunk_delay`` spaces
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
        body = body if body is not None else _google.error(status).body
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

    def refuse_next(
        self,
        code: int | Literal["policy", "spend", "rate"],
        *,
        detail: str | None = None,
        spent: float = 0,
        limit: float = 0,
        times: int = 1,
        route: str | None = None,
    ) -> None:
        """Make the gateway itself refuse the next ``times`` requests with error ``code``,
        ``detail`` added to its message: 2001, 2003 (``detail="Spend limit reached"`` for a
        spend limit), 2005, 2009, 2040, 2044, 7000; Guardrails' 2016 (prompt blocked), 2017
        (response blocked: Google is called first), 2021 (out of credits), 7013 (unavailable);
        DLP's 2029 and 2030 (see ``dlp_next``). Or as Policies (beta) refuse, with no
        code: ``"policy"`` (403, access denied), ``"spend"`` (429, a spend cap: ``spent`` of
        ``limit``), ``"rate"`` (a rate-limit rule's plain 429)."""
        if code not in POLICY_REFUSALS:
            GATEWAY_ERRORS[code]  # type: ignore[index]  # fail early on an unknown code
        refusal = Refusal(code, detail, spent=spent, limit=limit)
        self._script.add_refusal(Fault(route, times), refusal)

    def dlp_next(
        self,
        action: Literal["FLAG", "BLOCK"] = "FLAG",
        *,
        check: Literal["REQUEST", "RESPONSE"] = "REQUEST",
        profile_id: str = "emulator-dlp-profile",
        entry_ids: Sequence[str] = ("emulator-dlp-entry",),
        policy_ids: Sequence[str] = ("emulator-dlp-policy",),
        times: int = 1,
        route: str | None = None,
    ) -> None:
        """Make Data Loss Prevention match the next ``times`` requests: ``FLAG`` answers
        normally with a ``cf-aig-dlp`` header; ``BLOCK`` refuses with code 2029 (a ``REQUEST``
        check) or 2030 (``RESPONSE``: Google is called first), the header on the error."""
        finding = {
            "profile": {"context": {}, "entry_ids": list(entry_ids), "profile_id": profile_id},
            "policy_ids": list(policy_ids),
            "check": check,
        }
        header = json.dumps({"findings": [finding], "action": action}, separators=(",", ":"))
        if action == "BLOCK":
            refusal = Refusal(2029 if check == "REQUEST" else 2030, headers={"cf-aig-dlp": header})
            self._script.add_refusal(Fault(route, times), refusal)
        else:
            self._script.add_flag(Fault(route, times), header)

    def add_model(self, name: str) -> None:
        """Serve the model ``name`` (as ``models.list`` shows it) until the next reset."""
        self._gateway.models.add(name)

    def reset(self) -> None:
        """Forget recorded requests, connections counted, scripted answers, faults, the cache,
        the log entries, models added and Unified Billing's rate-limit window. Connections stay
        open, as on the real gateway: one kept alive counts again when it next sends."""
        self._diverted = None
        self._journal.clear()
        self._script.clear()
        self._gateway.clear()

    # -- what a cassette needs (_cassette) -------------------------------------------------

    def _divert(self, app: ASGIApp | None) -> None:
        """Hand every request but the logs API's to ``app`` until the next reset."""
        self._diverted = app

    def _received(self, request: RecordedRequest) -> None:
        self._journal.received(request)

    def _refusal(self, request: RecordedRequest) -> Answer | None:
        """The gateway's refusal of ``request`` (no such route, another gateway, no valid
        token), or None."""
        admitted = self._gateway.admit(request)
        return admitted if isinstance(admitted, Answer) else None

    # -- the ASGI application -------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        diverted = self._diverted
        if diverted is not None and not scope.get("path", "").startswith("/client/v4/"):
            await diverted(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self._gateway.live.serve(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._exchange(scope, receive, tracked)
        except _Gone:
            return
        except asyncio.CancelledError:
            # The server is stopping with this request in flight: answer if nothing was sent.
            if not started:
                await send_json(send, gateway_error(9503))
            raise

    async def _exchange(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        # A resumable upload's chunks (up to 8 MiB each) go to a temporary file as they come.
        chunk = b"upload" in dict(scope["headers"]).get(b"x-goog-upload-command", b"")
        body = await self._read_body(scope, receive, spool=chunk)
        recorded = RecordedRequest.from_scope(
            scope, **({"body": b""} if isinstance(body, Answer) else body)
        )
        if isinstance(body, Answer):  # refused unread: close, or the rest would be parsed
            answer = body
        else:
            self._journal.received(recorded)
            try:
                answer = await self._answer(recorded)
            finally:
                if recorded.payload is not None:
                    recorded.payload.close()
        if self.log is not None:
            self.log(log_line(recorded, answer, time.perf_counter() - started))
        if isinstance(body, Answer):
            await send_json(send, answer)
        else:
            await render(answer)(scope, receive, send)

    async def _read_body(
        self, scope: Scope, receive: Receive, *, spool: bool
    ) -> dict[str, Any] | Answer:
        """The request's body (``body``, or with ``spool`` a ``payload`` file, its digest and
        size), or the refusal when it is too large (checked before reading)."""
        limit = self.body_limit
        for name, value in scope["headers"]:
            if name == b"content-length" and int(value) > limit:
                return gateway_error(9413, f"the body has {int(value)} bytes, over {limit}")
        chunks: list[bytes] = []
        payload = tempfile.SpooledTemporaryFile(2**20) if spool else None  # noqa: SIM115
        digest, size, more = hashlib.sha256(), 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                if payload is not None:
                    payload.close()
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return gateway_error(9413, f"the body has more than {limit} bytes")
            if payload is None:
                chunks.append(chunk)
            else:
                payload.write(chunk)
                digest.update(chunk)
            more = message.get("more_body", False)
        if payload is None:
            return {"body": b"".join(chunks)}
        return {
            "body": b"",
            "payload": payload,
            "body_sha256": digest.hexdigest(),
            "body_size": size,
        }

    async def _answer(self, request: RecordedRequest) -> Answer:
        if _UNSAFE_PATH.search(request.path):
            return gateway_error(9400, "the path holds control or non-ASCII characters")
        values = "".join(request.headers.values())
        if _CONTROL.search(values):
            return gateway_error(9400, "a header value holds control characters")
        # The protocol enforces this only on a head that arrives in pieces.
        if len(values) + sum(map(len, request.headers)) > MAX_HEAD:
            return gateway_error(9431, f"the headers exceed {MAX_HEAD} bytes")
        try:
            if request.path.startswith("/client/v4/"):
                return self._logs.api_answer(
                    request, self.api_token, (self.account_id, self.gateway_id)
                )
            return await self._gateway.answer(request)
        except Exception as exc:  # a bug of the emulator's: still an answer in the gateway's shape
            logging.getLogger("uvicorn.error").exception("the gateway emulator failed")
            return gateway_error(9500, type(exc).__name__)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Gone(Exception):
    """The client went away before its request arrived whole."""


# Percent-decoded paths may hold anything; none of the gateway's routes has these.
_UNSAFE_PATH = re.compile(r"[^\x20-\x7e]")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
