"""A local HTTP server that answers like Cloudflare AI Gateway in front of Google AI Studio."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send

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


@dataclass(repr=False)
class GatewayEmulator:
    """Cloudflare AI Gateway for the ``google-ai-studio`` provider, on a loopback port.

    - ``token``: the gateway requires ``cf-aig-authorization: Bearer <token>``; ``None``
      makes an unauthenticated gateway.
    - ``google_keys``: keys the stand-in for Google accepts in ``x-goog-api-key``.
    - ``stored_keys``: BYOK keys by alias; the gateway adds the ``default`` one when a
      request carries no ``x-goog-api-key``.
    - ``account_id``/``gateway_id``: the only ids routed (``None`` routes any).

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    token: str | None = None
    google_keys: Iterable[str] = ()
    stored_keys: Mapping[str, str] = field(default_factory=dict)
    account_id: str | None = None
    gateway_id: str | None = None
    host: str = "127.0.0.1"
    port: int = 0

    def __post_init__(self) -> None:
        self.google_keys = frozenset(self.google_keys)
        self._journal: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
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
            log_level="warning",
            interface="asgi3",
            lifespan="off",
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

    # -- journal and faults ---------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last :meth:`reset`, oldest first."""
        with self._lock:
            return list(self._journal)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._journal:
                raise AssertionError("the gateway emulator has received no request")
            return self._journal[-1]

    def fail_next(self, status: int, body: Any = None, *, times: int = 1, delay: float = 0) -> None:
        """Answer the next ``times`` routed requests with ``status`` and ``body`` (default:
        Google's error body for that status), after ``delay`` seconds."""
        with self._lock:
            self._faults.append(_Fault(status, body or _google_error(status), delay, times))

    def reset(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self._journal.clear()
            self._faults.clear()

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
        call = _MODEL_CALL.fullmatch(route["rest"] or "")
        if route["provider"] != PROVIDER or call is None or request.method != "POST":
            return _gateway_error(7000)
        key = request.header("x-goog-api-key")
        if key is None:
            key = self.stored_keys.get("default")
        if key is None:
            return JSONResponse(_google_error(403), status_code=403)
        if key not in self.google_keys and key not in self.stored_keys.values():
            return JSONResponse(_google_error(400), status_code=400)
        fault = self._take_fault()
        if fault is not None:
            await asyncio.sleep(fault.delay)
            return JSONResponse(fault.body, status_code=fault.status)
        return self._google(request, call["model"], call["method"])

    def _take_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return fault

    def _google(self, request: RecordedRequest, model: str, method: str) -> ASGIApp:
        """The stand-in for Google AI Studio behind the gateway."""
        if method not in ("generateContent", "streamGenerateContent"):
            return JSONResponse(_google_error(404), status_code=404)
        try:
            prompt = _prompt_text(request.json)
        except (ValueError, TypeError, KeyError, AttributeError):
            return JSONResponse(_google_error(400, "Invalid JSON payload received."), 400)
        headers = {
            "cf-aig-log-id": uuid.uuid4().hex,
            "cf-aig-step": "0",
            "cf-aig-model": model,
            "cf-aig-provider": PROVIDER,
        }
        words = f"Echo from {model}: {prompt}".split(" ")
        if method == "generateContent":
            return JSONResponse(_candidate(model, " ".join(words), final=True), headers=headers)
        chunks = [
            _candidate(model, word if i == 0 else f" {word}", final=i == len(words) - 1)
            for i, word in enumerate(words)
        ]
        if request.params.get("alt") != "sse":
            return JSONResponse(chunks, headers=headers)
        return StreamingResponse(_sse(chunks), media_type="text/event-stream", headers=headers)


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
    2009: (401, "Unauthorized"),
    7000: (400, "No route for that URI"),
}


def _gateway_error(code: int) -> Response:
    """The gateway's own error body (older ``error`` list and newer top-level fields)."""
    status, message = _GATEWAY_ERRORS[code]
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
