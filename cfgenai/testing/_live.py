"""The Live API through the gateway: a WebSocket at ``{root}/google`` (Cloudflare's documented
route), speaking Gemini's ``BidiGenerateContent`` protocol.

The client's first frame is ``setup``, answered by ``setupComplete``; each turn it ends
(``clientContent`` with ``turnComplete``, text ``realtimeInput``, or a ``toolResponse``) is
answered as ``generate_content`` would answer the conversation so far (echo or scripted
reply): text as ``serverContent.modelTurn``, function calls as ``toolCall``, then
``turnComplete``. The handshake and every client frame go into the journal.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.types import Message, Receive, Scope, Send

from . import _google
from ._answers import Answer, Fault, gateway_error
from ._journal import Journal, RecordedRequest
from ._provider import LIVE, Google
from ._render import Dropped, send_json
from ._rules import read_options
from ._script import Script

if TYPE_CHECKING:
    from ._gateway import Gateway

# Google's own endpoint behind the route; the gateway sends the key it chose as `key`.
UPSTREAM = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


class LiveEndpoint:
    def __init__(self, gateway: Gateway, google: Google, journal: Journal, script: Script) -> None:
        self._gateway, self._google, self._journal, self._script = gateway, google, journal, script

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        handshake = RecordedRequest.from_scope(scope, body=b"")
        self._journal.received(handshake)
        await receive()  # websocket.connect
        refusal = self._refusal(handshake)
        if isinstance(refusal, Answer):
            # The gateway's HTTP answer, where the server can send one.
            if "websocket.http.response" in scope.get("extensions", {}):
                await send_json(send, refusal, websocket=True)
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        session = _Session(self, handshake, refusal, send)
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if not await session.handle(message):
                    return
        except Dropped:
            return

    def _refusal(self, handshake: RecordedRequest) -> Answer | str | None:
        """The gateway's refusal of the handshake, else the key sent on to Google."""
        admitted = self._gateway.admit(handshake)
        if isinstance(admitted, Answer):
            return admitted
        route, key = admitted
        if route["provider"] != LIVE or route["rest"]:
            return _google.error(404, "the Live API is at {root}/google")
        refused = self._script.take_refusal(handshake.path)
        if refused is not None:
            return refused.answer()
        options = read_options(handshake.headers)
        if isinstance(options, str):
            return gateway_error(2005, options)
        paid = self._gateway.credential(key, options)
        return gateway_error(paid.code) if paid.code is not None else paid.key


class _Session:
    """One Live session: the conversation so far, and where its answers go."""

    def __init__(
        self, endpoint: LiveEndpoint, handshake: RecordedRequest, key: str | None, send: Send
    ) -> None:
        self._endpoint, self._handshake, self._key, self._send = endpoint, handshake, key, send
        self._model: str | None = None
        self._contents: list[dict[str, Any]] = []
        self._sent = 0
        self._generation = endpoint._script.generation

    async def handle(self, message: Message) -> bool:
        """Answer one client message; False once the session is over (a malformed one closes
        it with 1007 and says why, as Google does)."""
        try:
            text = message.get("text") or (message.get("bytes") or b"").decode()
        except UnicodeDecodeError:
            await self._close(1007, "the message is not UTF-8 text")
            return False
        try:
            frame = json.loads(text) if text.strip() else {}
        except (ValueError, RecursionError):
            await self._close(1007, "the message is not JSON")
            return False
        recorded = replace(self._handshake, method="WS", body=text.encode(), label=self._model)
        if self._model is None:  # the first frame: setup
            setup = frame.get("setup") if isinstance(frame, dict) else None
            if not isinstance(setup, dict) or not isinstance(setup.get("model"), str):
                await self._close(1007, "the first message must be setup, naming the model")
                return False
            self._model = setup["model"].removeprefix("models/")
            recorded = replace(recorded, label=self._model)
            self._endpoint._journal.received(recorded)
            kept = {k: v for k, v in self._handshake.headers.items() if not k.startswith("cf-")}
            headers = {**kept, "x-goog-api-key": self._key} if self._key else kept
            upstream = replace(recorded, method="GET", path=UPSTREAM, query="", headers=headers)
            self._endpoint._journal.sent_upstream(upstream)
            if not self._endpoint._google.accepts(self._key):
                await self._close(1007, "API key not valid. Please pass a valid API key.")
                return False
            refused = self._endpoint._google.models.refusal(self._model, "bidiGenerateContent")
            if refused is not None:
                await self._close(1008, refused.body["error"]["message"])
                return False
            await self._message({"setupComplete": {}})
            return True
        self._endpoint._journal.received(recorded)
        try:
            turn = _turn(frame)
        except Malformed as why:
            await self._close(1007, str(why))
            return False
        if turn is None:
            return True
        if turn:
            self._contents.append(turn)
        if _field(_field(frame, "clientContent"), "turnComplete") is False:
            return True
        await self._answer(recorded)
        return True

    async def _answer(self, recorded: RecordedRequest) -> None:
        endpoint = self._endpoint
        if endpoint._script.generation != self._generation:
            # The emulator was reset (a new test began): this session's turn must not take the
            # new test's scripted answers. A restarted gateway would have closed it.
            await self._close(1012, "the gateway restarted")
            raise Dropped
        fault = endpoint._script.take_fault(self._handshake.path)
        if fault is not None and fault.status is not None:
            await self._close(1011, f"upstream error {fault.status}")
            raise Dropped
        assert self._model is not None
        # A turn ended before anything was said is answered as an empty prompt.
        contents = self._contents or [{"role": "user", "parts": []}]
        call = replace(
            recorded,
            method="POST",
            path=f"/v1beta/models/{self._model}:generateContent",
            body=json.dumps({"contents": contents}).encode(),
        )
        chunks = endpoint._google.responses(call, self._model)
        self._sent = 0
        calls: list[dict[str, Any]] = []
        for chunk in chunks:
            candidate = (chunk.get("candidates") or [{}])[0]
            parts = candidate.get("content", {}).get("parts", [])
            self._contents.append({"role": "model", "parts": parts})
            texts = [p for p in parts if "functionCall" not in p]
            calls += [
                {"id": uuid.uuid4().hex[:8], **p["functionCall"]}
                for p in parts
                if "functionCall" in p
            ]
            if texts:
                await self._message({"serverContent": {"modelTurn": {"parts": texts}}}, fault)
        if calls:  # the model waits for the toolResponse
            await self._message({"toolCall": {"functionCalls": calls}}, fault)
            return
        usage = chunks[-1].get("usageMetadata") if chunks else None
        done: dict[str, Any] = {"serverContent": {"turnComplete": True}}
        if usage:
            done["usageMetadata"] = usage
        await self._message(done, fault)

    async def _message(self, message: dict[str, Any], fault: Fault | None = None) -> None:
        if fault is not None:
            if fault.drop_after is not None and self._sent >= fault.drop_after:
                raise Dropped  # the connection goes, mid-turn
            if self._sent and fault.chunk_delay:
                await asyncio.sleep(fault.chunk_delay)
            elif not self._sent and fault.delay:
                await asyncio.sleep(fault.delay)
        self._sent += 1
        await self._send({"type": "websocket.send", "text": json.dumps(message)})

    async def _close(self, code: int, reason: str) -> None:
        # A close frame's reason holds at most 123 bytes (RFC 6455, 5.5): longer ones are cut.
        cut = reason.encode()[:123].decode(errors="ignore")
        await self._send({"type": "websocket.close", "code": code, "reason": cut})


class Malformed(ValueError):
    """A client message that is not what the protocol says: the reason the session closes."""


def _turn(frame: Any) -> dict[str, Any] | None:
    """The user's part of the conversation in ``frame``: a content ({} for a turn that adds
    none), or None for a frame that ends no turn (audio, activity signals...); ``Malformed``
    for a frame whose fields have the wrong types."""
    if not isinstance(frame, dict):
        raise Malformed("a message must be a JSON object")
    if (content := _object(frame, "clientContent")) is not None:
        if not isinstance(_field(content, "turnComplete"), bool | None):
            raise Malformed("clientContent.turnComplete must be a boolean")
        parts = [
            _part(part, "clientContent.turns[].parts[]")
            for turn in _objects(content, "turns", "clientContent.turns[]")
            for part in _list(turn, "parts", "clientContent.turns[].parts")
        ]
        return {"role": "user", "parts": parts} if parts else {}
    if (realtime := _object(frame, "realtimeInput")) is not None:
        text = _field(realtime, "text")
        if text is None:
            return None
        if not isinstance(text, str):
            raise Malformed("realtimeInput.text must be a string")
        return {"role": "user", "parts": [{"text": text}]}
    if (tool := _object(frame, "toolResponse")) is not None:
        responses = _objects(tool, "functionResponses", "toolResponse.functionResponses[]")
        return {"role": "user", "parts": [{"functionResponse": r} for r in responses]}
    return None


def _object(message: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = _field(message, name)
    if value is not None and not isinstance(value, dict):
        raise Malformed(f"{name} must be an object")
    return value


def _list(message: dict[str, Any], name: str, where: str) -> list[Any]:
    value = _field(message, name)
    if value is not None and not isinstance(value, list):
        raise Malformed(f"{where} must be a list")
    return value or []


def _objects(message: dict[str, Any], name: str, where: str) -> list[dict[str, Any]]:
    """The list ``message[name]``, each item an object."""
    items = _list(message, name, where.removesuffix("[]"))
    if not all(isinstance(item, dict) for item in items):
        raise Malformed(f"each of {where} must be an object")
    return items


def _part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise Malformed(f"each of {where} must be an object")
    if not isinstance(part.get("text", ""), str):
        raise Malformed(f"{where}.text must be a string")
    return part


def _field(message: Any, name: str) -> Any:
    """``message[name]``: Google reads both camelCase and snake_case field names (google-genai
    sends ``client_content``)."""
    if not isinstance(message, dict):
        return None
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return message.get(name, message.get(snake))
