"""A local HTTP server that answers like Cloudflare AI Gateway in front of Google AI Studio."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .._errors import ConfigError
from .._options import OPTION_FIELDS, GatewayOptions, header_of, validate_options
from .._secrets import mask_headers

PROVIDER = "google-ai-studio"
# /v1/{account}/{gateway}/{provider}/{rest}
_GATEWAY_PATH = re.compile(
    r"/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/(?P<provider>[^/]+)(?P<rest>/.*)?"
)
_MODEL_CALL = re.compile(r"/(?P<version>v\d+\w*)/models/(?P<model>[^/:]+):(?P<method>\w+)")


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as the gateway received it. Header names are lowercase."""

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

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"RecordedRequest({self.method} {self.path}{query}, headers={mask_headers(self.headers)})"


@dataclass
class _Fault:
    status: int
    body: Any
    delay: float
    remaining: int


@dataclass
class _Answer:
    """What the stand-in for Google answered: a JSON body, or the chunks of a stream."""

    status: int
    body: Any
    stream: bool = False


@dataclass(repr=False)
class GatewayEmulator:
    """Cloudflare AI Gateway for the ``google-ai-studio`` provider, on a loopback port.

    - ``token``: the gateway requires ``cf-aig-authorization: Bearer <token>``; ``None``
      makes an unauthenticated gateway.
    - ``google_keys``: keys the stand-in for Google accepts in ``x-goog-api-key``.
    - ``stored_keys``: BYOK keys by alias; with no ``x-goog-api-key`` the gateway adds the
      one named by ``cf-aig-byok-alias`` (default ``default``).
    - ``account_id``/``gateway_id``: the only ids routed (``None`` routes any).
    - ``cache_ttl``: the gateway's own cache setting in seconds (``None``: cache only when a
      request sends ``cf-aig-cache-ttl``); ``clock`` tells cache expiry, so tests can move
      time without sleeping.

    Option headers are checked with the same rules as the client; a bad one gets a 400 with
    the gateway's error body and code 2005 (the emulator's choice: the real code for this
    case is not documented). Use it as a context manager, or call :meth:`start`/:meth:`stop`.
    """

    token: str | None = None
    google_keys: Iterable[str] = ()
    stored_keys: Mapping[str, str] = field(default_factory=dict)
    account_id: str | None = None
    gateway_id: str | None = None
    cache_ttl: int | None = None
    clock: Callable[[], float] = time.monotonic
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self.google_keys = frozenset(self.google_keys)
        self._journal: list[RecordedRequest] = []
        self._upstream: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._refusals: list[_Fault] = []
        self._cache: dict[str, tuple[float, _Answer]] = {}
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = f"listening on {self.url}" if self._server else "stopped"
        return f"GatewayEmulator({state}, requests={len(self._journal)})"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> Self:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
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

    # -- journal, faults, cache -----------------------------------------------------------

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

    @property
    def upstream_requests(self) -> list[RecordedRequest]:
        """Every request the gateway sent on to Google (one per attempt), as Google saw it:
        no ``cf-aig-*`` headers, and the provider key the gateway chose."""
        with self._lock:
            return list(self._upstream)

    def fail_next(self, status: int, body: Any = None, *, times: int = 1, delay: float = 0) -> None:
        """Make Google answer the next ``times`` upstream attempts with ``status`` and ``body``
        (default: Google's error body for that status), after ``delay`` seconds."""
        with self._lock:
            self._faults.append(_Fault(status, body or _google_error(status), delay, times))

    def refuse_next(self, code: int, *, times: int = 1) -> None:
        """Make the gateway itself refuse the next ``times`` requests with error ``code``
        (2001, 2003, 2005, 2009, 2040 or 7000)."""
        status, _ = _GATEWAY_ERRORS[code]
        with self._lock:
            self._refusals.append(_Fault(status, code, 0, times))

    def reset(self) -> None:
        """Forget recorded requests, pending faults and cached answers."""
        with self._lock:
            self._journal.clear()
            self._upstream.clear()
            self._faults.clear()
            self._refusals.clear()
            self._cache.clear()

    # -- the gateway ----------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            body=await request.body(),
        )
        with self._lock:
            self._journal.append(recorded)
        response = await self._answer(recorded)
        await response(scope, receive, send)

    async def _answer(self, request: RecordedRequest) -> ASGIApp:
        route = _GATEWAY_PATH.fullmatch(request.path)
        if route is None:
            return _gateway_error(7000)
        if (self.account_id and route["account"] != self.account_id) or (
            self.gateway_id and route["gateway"] != self.gateway_id
        ):
            return _gateway_error(2001)
        if self.token and request.header("cf-aig-authorization") != f"Bearer {self.token}":
            return _gateway_error(2009)
        refusal = _take(self._refusals, self._lock)
        if refusal is not None:
            return _gateway_error(refusal.body)
        sent = {name: request.header(header_of(name)) for name in OPTION_FIELDS}
        try:
            options = validate_options({k: v for k, v in sent.items() if v is not None})
        except ConfigError as exc:
            return _gateway_error(2005, "; ".join(exc.problems))
        call = _MODEL_CALL.fullmatch(route["rest"] or "")
        if route["provider"] != PROVIDER or call is None or request.method != "POST":
            return _gateway_error(7000)
        key = request.header("x-goog-api-key")
        if key is None and (options.byok_alias or "default") in self.stored_keys:
            key = self.stored_keys[options.byok_alias or "default"]
        elif key is None and options.byok_alias is not None:
            return _gateway_error(2040)

        headers = {
            "cf-aig-log-id": uuid.uuid4().hex,
            "cf-aig-step": "0",
            "cf-aig-model": call["model"],
            "cf-aig-provider": PROVIDER,
        }
        if options.event_id:
            headers["cf-aig-event-id"] = options.event_id
        ttl = options.cache_ttl or self.cache_ttl
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
                return _render(cached, {**headers, "cf-aig-cache-status": "HIT"}, request)
        answer = await self._upstream_attempts(request, route["rest"], key, options)
        if ttl:
            headers["cf-aig-cache-status"] = "MISS"
            if answer.status == 200 and not options.skip_cache:
                with self._lock:
                    self._cache[cache_key] = (self.clock() + ttl, answer)
        return _render(answer, headers, request)

    async def _upstream_attempts(
        self, request: RecordedRequest, path: str, key: str | None, options: GatewayOptions
    ) -> _Answer:
        """Google's answer, retried as ``cf-aig-max-attempts`` and its delay ask."""
        headers = {k: v for k, v in request.headers.items() if not k.startswith("cf-aig-")}
        headers.pop("x-goog-api-key", None)
        if key is not None:
            headers["x-goog-api-key"] = key
        forwarded = RecordedRequest(request.method, path, request.query, headers, request.body)
        attempts = options.max_attempts or 1
        for attempt in range(1, attempts + 1):
            with self._lock:
                self._upstream.append(forwarded)
            answer = await self._google(forwarded)
            if attempt == attempts or (answer.status < 500 and answer.status != 429):
                return answer
            delay = (options.retry_delay_ms or 0) / 1000
            factor = {"linear": attempt, "exponential": 2 ** (attempt - 1)}.get(
                options.backoff or "", 1
            )
            await asyncio.sleep(delay * factor)
        raise AssertionError("unreachable")

    async def _google(self, request: RecordedRequest) -> _Answer:
        """The stand-in for Google AI Studio behind the gateway."""
        key = request.header("x-goog-api-key")
        if key is None:
            return _Answer(403, _google_error(403))
        if key not in self.google_keys and key not in self.stored_keys.values():
            return _Answer(400, _google_error(400))
        fault = _take(self._faults, self._lock)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            return _Answer(fault.status, fault.body)
        call = _MODEL_CALL.fullmatch(request.path)
        assert call is not None
        model, method = call["model"], call["method"]
        if method not in ("generateContent", "streamGenerateContent"):
            return _Answer(404, _google_error(404))
        try:
            prompt = _prompt_text(request.json)
        except (ValueError, TypeError, KeyError, AttributeError):
            return _Answer(400, _google_error(400, "Invalid JSON payload received."))
        words = f"Echo from {model}: {prompt}".split(" ")
        if method == "generateContent":
            return _Answer(200, _candidate(model, " ".join(words), final=True))
        chunks = [
            _candidate(model, word if i == 0 else f" {word}", final=i == len(words) - 1)
            for i, word in enumerate(words)
        ]
        return _Answer(200, chunks, stream=True)


def _take(faults: list[_Fault], lock: threading.Lock) -> _Fault | None:
    with lock:
        if not faults:
            return None
        fault = faults[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            faults.pop(0)
        return fault


def _render(answer: _Answer, headers: dict[str, str], request: RecordedRequest) -> ASGIApp:
    if answer.stream and request.params.get("alt") == "sse":
        return StreamingResponse(_sse(answer.body), media_type="text/event-stream", headers=headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=headers)


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"


def _prompt_text(body: Any) -> str:
    """The text of the last user turn of a ``generateContent`` body."""
    turn = body["contents"][-1]
    return " ".join(part["text"] for part in turn["parts"] if "text" in part)


def _candidate(model: str, text: str, *, final: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    answer: dict[str, Any] = {"candidates": [candidate], "modelVersion": model}
    if final:
        candidate["finishReason"] = "STOP"
        tokens = len(text.split())
        answer["usageMetadata"] = {
            "promptTokenCount": tokens,
            "candidatesTokenCount": tokens,
            "totalTokenCount": 2 * tokens,
        }
    return answer


_GATEWAY_ERRORS = {
    2001: (400, "Gateway does not exist"),
    2003: (429, "Rate limited"),
    2005: (400, "Invalid request option"),
    2009: (401, "Unauthorized"),
    2040: (400, "No stored key with that alias"),
    7000: (400, "No route for that URI"),
}


def _gateway_error(code: int, detail: str | None = None) -> Response:
    """The gateway's own error body (older ``error`` list and newer top-level fields)."""
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
    return JSONResponse(body, status_code=status)


_GOOGLE_ERRORS = {
    400: ("INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."),
    403: (
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). "
        "Please use API Key or other form of API consumer identity to call this API.",
    ),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}


def _google_error(status: int, message: str | None = None) -> dict[str, Any]:
    """Google's error body for ``status``."""
    name, default = _GOOGLE_ERRORS.get(status, ("UNKNOWN", "Error."))
    return {"error": {"code": status, "message": message or default, "status": name}}
