"""A local HTTP server that answers like Cloudflare AI Gateway in front of Google AI Studio."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from .._errors import ConfigError
from .._options import OPTION_HEADERS, GatewayOptions, validate_options
from .._secrets import mask_header, mask_headers
from .._settings import PROVIDER, VERTEX
from . import _compat, _google

_VERTEX_CALL = re.compile(r"/v\d+\w*/projects/[^/]+/locations/[^/]+/publishers/google/models/")
_NO_OPTIONS = GatewayOptions()
# /v1/{account}/{gateway}/{provider}{rest}
_GATEWAY_PATH = re.compile(
    r"/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/(?P<provider>[^/]+)(?P<rest>/.*)?"
)
# A custom domain's root stands for one account's gateway: /{provider}{rest}
_DOMAIN_PATH = re.compile(r"/(?P<provider>google-ai-studio|google-vertex-ai|compat)(?P<rest>/.*)?")
_MODEL_CALL = re.compile(r"/models/(?P<model>[^/:]+):(?P<action>\w+)$")
_MODEL_PATH = re.compile(r"/(?P<version>v\d+\w*)/models(?:/(?P<model>[^/:]+))?")

# A scripted answer: a text, the chunks of a stream, or a function of the request giving either.
Reply = str | list[str] | Callable[["RecordedRequest"], "str | list[str]"]


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as received. Header names are lowercase."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query))

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def model(self) -> str | None:
        """The model a Gemini or compat request is for."""
        match = _MODEL_CALL.search(self.path) or _MODEL_PATH.search(self.path)
        if match and match["model"]:
            return match["model"]
        try:
            return _compat.model_of(self.json)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"RecordedRequest({self.method} {self.path}{query}, headers={mask_headers(self.headers)})"


@dataclass
class _Fault:
    route: str | None  # applies to requests whose path contains this
    remaining: int
    status: int | None = None  # None: a normal answer, disturbed by the fields below
    body: Any = None
    retry_after: float | None = None
    delay: float = 0.0  # before the response headers
    chunk_delay: float = 0.0  # between stream chunks
    drop_after: int | None = None  # stream chunks sent before the connection is cut
    malformed: bool = False


@dataclass
class _Answer:
    status: int
    body: Any  # a JSON value; for a stream, the list of its chunks
    stream: bool = False  # send as server-sent events
    done_marker: bool = False  # end the stream with "data: [DONE]" (OpenAI's convention)
    headers: dict[str, str] = field(default_factory=dict)
    fault: _Fault | None = None


class _Dropped(Exception):
    """Raised mid-stream to cut the connection, as a failing network would."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


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
        self._journal: list[RecordedRequest] = []
        self._upstream: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._refusals: list[tuple[_Fault, int]] = []
        self._replies: list[Reply] = []
        self._reply_chunk_delay = 0.0
        self._cache: dict[str, tuple[float, _Answer]] = {}
        self._connections: set[Any] = set()
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = f"listening on {self.url}" if self._server else "stopped"
        return f"GatewayEmulator({state}, requests={len(self._journal)})"

    # -- lifecycle ------------------------------------------------------------------------

    def _bind(self) -> tuple[uvicorn.Server, socket.socket]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit this: without it, a kept-alive connection waits for
        # the client's delayed ACK (about 40 ms) between the response's header and body writes.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        sock.listen(2048)  # connections wait in the backlog until the server runs
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        return uvicorn.Server(config), sock

    def start(self) -> Self:
        """Serve from a background thread; returns once the port accepts connections."""
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
        return self

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM (for ``cfgenai gateway``)."""
        server, sock = self._bind()
        self._server = server
        # uvicorn shuts down gracefully on these, then raises the signal again: answer that
        # second one here, so the process ends normally instead of dying of it.
        previous = {
            sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)
        }
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
            self._server.should_exit = True
            self._thread.join(timeout=5)
        self._server = None

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
        with self._lock:
            return list(self._journal)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._journal:
                raise AssertionError("the gateway emulator has received no request")
            return self._journal[-1]

    def requests_to(self, model: str) -> list[RecordedRequest]:
        """The requests received for ``model``, oldest first."""
        return [r for r in self.requests if r.model == model]

    @property
    def upstream_requests(self) -> list[RecordedRequest]:
        """Every request the gateway sent on to Google (one per attempt), as Google saw it:
        no ``cf-aig-*`` headers, and the provider key the gateway chose."""
        with self._lock:
            return list(self._upstream)

    @property
    def connections(self) -> int:
        """How many TCP connections clients opened since the last :meth:`reset`."""
        with self._lock:
            return len(self._connections)

    # -- scripted answers and faults ------------------------------------------------------

    def reply(self, *answers: Reply, chunk_delay: float = 0.0) -> None:
        """Answer generation calls with these, in order; the last one then stays.

        Each is a text, the chunks of a stream (joined for a non-streamed call), or a
        function of the :class:`RecordedRequest` returning either. ``chunk_delay`` spaces
        streamed chunks this many seconds apart.
        """
        with self._lock:
            self._replies = list(answers)
            self._reply_chunk_delay = chunk_delay

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
        self._add(_Fault(route, times, status, body, retry_after=retry_after, delay=delay))

    def stall_next(self, seconds: float, *, times: int = 1, route: str | None = None) -> None:
        """Delay the next answers' headers by ``seconds``."""
        self._add(_Fault(route, times, delay=seconds))

    def slow_stream_next(
        self, chunk_delay: float, *, times: int = 1, route: str | None = None
    ) -> None:
        """Space the next streams' chunks ``chunk_delay`` seconds apart."""
        self._add(_Fault(route, times, chunk_delay=chunk_delay))

    def drop_next(self, *, after_chunks: int = 1, times: int = 1, route: str | None = None) -> None:
        """Cut the connection of the next streams after ``after_chunks`` chunks (a non-streamed
        answer is cut before its body)."""
        self._add(_Fault(route, times, drop_after=after_chunks))

    def garble_next(self, *, times: int = 1, route: str | None = None) -> None:
        """Answer the next requests with status 200 and a body that is not valid JSON."""
        self._add(_Fault(route, times, malformed=True))

    def refuse_next(self, code: int, *, times: int = 1, route: str | None = None) -> None:
        """Make the gateway itself refuse the next ``times`` requests with error ``code``
        (2001, 2003, 2005, 2009, 2040 or 7000)."""
        _GATEWAY_ERRORS[code]  # fail early on an unknown code
        with self._lock:
            self._refusals.append((_Fault(route, times), code))

    def _add(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def reset(self) -> None:
        """Forget recorded requests, connections, scripted answers, faults and the cache."""
        with self._lock:
            self._journal.clear()
            self._upstream.clear()
            self._connections.clear()
            self._faults.clear()
            self._refusals.clear()
            self._replies.clear()
            self._cache.clear()

    # -- the gateway ----------------------------------------------------------------------

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
        with self._lock:
            self._journal.append(recorded)
            self._connections.add(scope.get("client"))
        started = time.perf_counter()
        answer = await self._answer(recorded)
        response = _render(answer, recorded)
        if self.log is not None:
            self.log(_log_line(recorded, answer, time.perf_counter() - started))
        await response(scope, receive, send)

    async def _answer(self, request: RecordedRequest) -> _Answer:
        match = _GATEWAY_PATH.fullmatch(request.path) or _DOMAIN_PATH.fullmatch(request.path)
        if match is None:
            return _gateway_error(7000)
        route = match.groupdict()
        if (self.account_id and route.get("account", self.account_id) != self.account_id) or (
            self.gateway_id and route.get("gateway", self.gateway_id) != self.gateway_id
        ):
            return _gateway_error(2001)
        compat = route["provider"] == "compat"
        provider_key = _provider_key(request, route["provider"])
        if self.token:
            access = self.access_token and request.header("cf-access-token") == self.access_token
            # The token may stand in for the provider key (Cloudflare's own SDK examples).
            if provider_key == self.token:
                provider_key = None
            elif request.header("cf-aig-authorization") != f"Bearer {self.token}" and not access:
                return _gateway_error(2009)
        refusal = self._take_refusal(request.path)
        if refusal is not None:
            return _gateway_error(refusal)
        sent = {
            name: request.headers[h] for name, h in OPTION_HEADERS.items() if h in request.headers
        }
        try:
            options = validate_options(sent) if sent else _NO_OPTIONS
        except ConfigError as exc:
            return _gateway_error(2005, "; ".join(exc.problems))
        if compat and route["rest"] == "/chat/completions" and request.method == "POST":
            return await self._compat(request, provider_key, options)
        if route["provider"] in (PROVIDER, VERTEX) and route["rest"]:
            upstream = replace(request, path=route["rest"])
            return await self._through_gateway(request, upstream, provider_key, options)
        return _gateway_error(7000)

    async def _compat(
        self, request: RecordedRequest, provider_key: str | None, options: GatewayOptions
    ) -> _Answer:
        try:
            body = request.json
            model = _compat.model_of(body)
            gemini = _compat.to_gemini(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            return _Answer(400, _compat.error(400, "the body must be a chat completion request"))
        if model is None:
            return _Answer(400, _compat.error(400, "model must be google-ai-studio/{model}"))
        streamed = body.get("stream") is True
        action = "streamGenerateContent" if streamed else "generateContent"
        upstream = replace(
            request,
            path=f"/v1beta/models/{model}:{action}",
            query="alt=sse" if streamed else "",
            body=json.dumps(gemini).encode(),
        )
        answer = await self._through_gateway(request, upstream, provider_key, options)
        if answer.status != 200 or (answer.fault and answer.fault.malformed):
            return answer
        if streamed:
            texts = [_google_text(chunk) for chunk in answer.body]
            body = _compat.completion_chunks(model, texts)
            return replace(answer, body=body, stream=True, done_marker=True)
        return replace(answer, body=_compat.completion(model, _google_text(answer.body)))

    async def _through_gateway(
        self,
        request: RecordedRequest,
        upstream: RecordedRequest,
        provider_key: str | None,
        options: GatewayOptions,
    ) -> _Answer:
        """What the gateway adds around the upstream call: key, cache, retries, headers."""
        key = provider_key
        if key is None:
            alias = options.byok_alias or "default"
            if alias in self.stored_keys:
                key = self.stored_keys[alias]
            elif options.byok_alias is not None:
                return _gateway_error(2040)
        headers = {
            "cf-aig-log-id": os.urandom(16).hex(),
            "cf-aig-step": "0",
            "cf-aig-provider": PROVIDER,
        }
        if upstream.model:
            headers["cf-aig-model"] = upstream.model
        if options.event_id:
            headers["cf-aig-event-id"] = options.event_id
        ttl = self.cache_ttl if options.cache_ttl is None else options.cache_ttl  # 0: off
        cache_key = (
            options.cache_key
            or hashlib.sha256(
                b"\0".join([request.path.encode(), (key or "").encode(), request.body])
            ).hexdigest()
        )
        if ttl and not options.skip_cache:
            with self._lock:
                expires, cached = self._cache.get(cache_key, (0.0, None))
            if cached is not None and self.clock() < expires:
                return replace(cached, headers={**headers, "cf-aig-cache-status": "HIT"})
        answer = await self._upstream_attempts(upstream, key, options)
        if ttl:
            headers["cf-aig-cache-status"] = "MISS"
            if answer.status == 200 and answer.fault is None and not options.skip_cache:
                with self._lock:
                    self._cache[cache_key] = (self.clock() + ttl, answer)
        answer.headers.update(headers)
        return answer

    async def _upstream_attempts(
        self, upstream: RecordedRequest, key: str | None, options: GatewayOptions
    ) -> _Answer:
        """Google's answer, retried as ``cf-aig-max-attempts`` and its delay ask."""
        # Cloudflare-only credentials and options stop here.
        headers = {
            k: v for k, v in upstream.headers.items() if not k.startswith(("cf-aig-", "cf-access-"))
        }
        headers.pop("x-goog-api-key", None)
        headers.pop("authorization", None)
        if key is not None and _VERTEX_CALL.match(upstream.path):
            headers["authorization"] = f"Bearer {key}"
        elif key is not None:
            headers["x-goog-api-key"] = key
        forwarded = replace(upstream, headers=headers)
        attempts = options.max_attempts or 1
        for attempt in range(1, attempts + 1):
            with self._lock:
                self._upstream.append(forwarded)
            answer = await self._google(forwarded)
            if attempt == attempts or (answer.status < 500 and answer.status != 429):
                break
            factor = {"linear": attempt, "exponential": 2 ** (attempt - 1)}.get(
                options.backoff or "", 1
            )
            await asyncio.sleep((options.retry_delay_ms or 0) / 1000 * factor)
        return answer

    async def _google(self, request: RecordedRequest) -> _Answer:
        """The stand-in for Google AI Studio behind the gateway."""
        key = _provider_key(request, VERTEX if _VERTEX_CALL.match(request.path) else PROVIDER)
        if key is None:
            return _Answer(403, _google.error(403))
        if (
            self.google_keys is not None
            and key not in self.google_keys
            and key not in self.stored_keys.values()
        ):
            return _Answer(400, _google.error(400))
        fault = self._take_fault(request.path)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status is not None:
                retry_after = (
                    {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
                )
                return _Answer(fault.status, fault.body, headers=retry_after)
        try:
            answer = self._gemini(request)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            answer = _Answer(400, _google.error(400, "Invalid JSON payload received."))
        answer.fault = fault
        return answer

    def _gemini(self, request: RecordedRequest) -> _Answer:
        listing = _MODEL_PATH.fullmatch(request.path)
        if request.method == "GET" and listing is not None:
            name = listing["model"]
            if name is None:
                return _Answer(200, _google.list_models())
            if name in _google.MODELS:
                return _Answer(200, _google.model_info(name))
            return _Answer(404, _google.error(404, f"models/{name} is not found."))
        call = _MODEL_CALL.search(request.path)
        if call is None or request.method != "POST":
            return _Answer(404, _google.error(404))
        model, action = call["model"], call["action"]
        if action == "generateContent":
            return _Answer(
                200, _google.candidate(model, "".join(self._reply(request, model)), final=True)
            )
        if action == "streamGenerateContent":
            chunks = _google.stream(model, self._reply(request, model))
            return _Answer(200, chunks, stream=request.params.get("alt") == "sse")
        if action == "countTokens":
            return _Answer(200, _google.count_tokens(request.json))
        if action == "embedContent":
            return _Answer(200, _google.embed(request.json))
        if action == "batchEmbedContents":
            return _Answer(200, _google.batch_embed(request.json))
        return _Answer(404, _google.error(404, f"Method {action} is not found for models/{model}."))

    def _reply(self, request: RecordedRequest, model: str) -> list[str]:
        """The chunks of the answer: scripted, or an echo of the prompt."""
        prompt = _google.prompt_text(request.json)
        with self._lock:
            scripted = self._replies[0] if self._replies else None
            if len(self._replies) > 1:
                self._replies.pop(0)
        if callable(scripted):
            scripted = scripted(request)
        if scripted is None:
            words = f"Echo from {model}: {prompt}".split(" ")
            return [w if i == 0 else f" {w}" for i, w in enumerate(words)]
        return [scripted] if isinstance(scripted, str) else list(scripted)

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            fault = _take(self._faults, path)
            if fault is None and self._reply_chunk_delay and self._replies:
                fault = _Fault(None, 1, chunk_delay=self._reply_chunk_delay)
            return fault

    def _take_refusal(self, path: str) -> int | None:
        with self._lock:
            for fault, code in self._refusals:
                if _take([fault], path) is not None:
                    if fault.remaining <= 0:
                        self._refusals.remove((fault, code))
                    return code
        return None


def _provider_key(request: RecordedRequest, provider: str) -> str | None:
    """The provider credential a request carries: Google's header, or a bearer token."""
    if provider == PROVIDER:
        return request.header("x-goog-api-key")
    bearer = request.header("authorization")
    return bearer.removeprefix("Bearer ").strip() if bearer else None


def _take(faults: list[_Fault], path: str) -> _Fault | None:
    """The first fault for ``path``, counted down and removed once used up (lock held)."""
    for fault in faults:
        if fault.route is None or fault.route in path:
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
            return fault
    return None


def _google_text(answer: Any) -> str:
    return "".join(p.get("text", "") for p in answer["candidates"][0]["content"]["parts"])


def _render(answer: _Answer, request: RecordedRequest) -> Response:
    fault = answer.fault or _Fault(None, 0)
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
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def _events(events: list[bytes], fault: _Fault) -> AsyncIterator[bytes]:
    for i, event in enumerate(events):
        if fault.drop_after is not None and i >= fault.drop_after:
            raise _Dropped
        if i and fault.chunk_delay:
            await asyncio.sleep(fault.chunk_delay)
        yield b"data: " + event + b"\r\n\r\n"
    if fault.drop_after is not None:  # fewer chunks than asked for: cut after the last
        raise _Dropped


def _log_line(request: RecordedRequest, answer: _Answer, seconds: float) -> str:
    query = f"?{request.query}" if request.query else ""
    shown = [
        f"{name}={mask_header(name, request.headers[name])}"
        for name in ("cf-aig-authorization", "x-goog-api-key", "authorization")
        if name in request.headers
    ]
    cache = answer.headers.get("cf-aig-cache-status")
    extra = f" cache={cache}" if cache else ""
    return (
        f"{request.method} {request.path}{query} -> {answer.status}{extra} "
        f"{' '.join(shown) or 'no credentials'} ({seconds * 1000:.1f} ms)"
    )


_GATEWAY_ERRORS = {
    2001: (400, "Gateway does not exist"),
    2003: (429, "Rate limited"),
    2005: (400, "Invalid request option"),
    2009: (401, "Unauthorized"),
    2040: (400, "No stored key with that alias"),
    7000: (400, "No route for that URI"),
}


def _gateway_error(code: int, detail: str | None = None) -> _Answer:
    """The gateway's own error (older ``error`` list and newer top-level fields)."""
    status, message = _GATEWAY_ERRORS[code]
    message = f"{message}: {detail}" if detail else message
    body = {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": code, "message": message}],
        "name": "AiGatewayError",
        "httpCode": status,
        "internalCode": code,
        "message": message,
        "description": message,
    }
    return _Answer(status, body)
