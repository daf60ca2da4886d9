"""An independent stand-in for the gateway: aiohttp's server, recording every request and
WebSocket frame, answering with the least google-genai parses. It shares nothing with
cfgenai.testing, so a mistake the emulator shares with the client still shows here.

Like the real gateway, a resumable upload's start answers with Google's own upload URL.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

GOOGLE_UPLOAD = "https://generativelanguage.googleapis.com"


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    frames: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class Recorder:
    """Started in a thread with ``with Recorder() as recorder``; ``seen`` lists the requests."""

    def __init__(self, upload_host: str = GOOGLE_UPLOAD) -> None:
        self.seen: list[Seen] = []
        self.upload_host = upload_host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._runner: web.AppRunner | None = None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/acc/gw"

    def __enter__(self) -> Recorder:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._started.set()
        self._loop.run_forever()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        seen = Seen(request.method, request.path, request.query_string, headers)
        self.seen.append(seen)
        if request.headers.get("upgrade", "").lower() == "websocket":
            return await self._live(request, seen)
        seen.body = await request.read()
        command = headers.get("x-goog-upload-command", "")
        if command == "start":
            path = _google_path(request.path)
            url = f"{self.upload_host}{path}?upload_id=r1&upload_protocol=resumable"
            return web.Response(
                headers={"x-goog-upload-url": url, "x-goog-upload-status": "active"}
            )
        if "finalize" in command:
            store = "uploadToFileSearchStore" in request.path
            answer = (
                {"name": "fileSearchStores/s/upload/operations/o"} if store else {"file": _FILE}
            )
            return web.json_response(answer, headers={"x-goog-upload-status": "final"})
        if request.path.endswith(":download"):
            return web.Response(body=b"recorded bytes")
        if request.path.endswith(":streamGenerateContent"):
            event = f"data: {json.dumps(_ANSWER)}\r\n\r\n".encode()
            return web.Response(body=event, content_type="text/event-stream")
        return web.json_response(_answer(request.path))

    async def _live(self, request: web.Request, seen: Seen) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                break
            seen.frames.append(message.data)
            frame = json.loads(message.data)
            if "setup" in frame:
                await socket.send_str(json.dumps({"setupComplete": {}}))
            else:
                turn = {"modelTurn": {"parts": [{"text": "recorded"}]}}
                await socket.send_str(json.dumps({"serverContent": turn}))
                await socket.send_str(json.dumps({"serverContent": {"turnComplete": True}}))
        return socket


_FILE = {"name": "files/r1", "mimeType": "text/plain", "sizeBytes": "5", "state": "ACTIVE"}
_ANSWER = {
    "candidates": [{"content": {"parts": [{"text": "recorded"}], "role": "model"}}],
    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
}


def _google_path(path: str) -> str:
    """The path as Google has it: after the provider's segment."""
    for provider in ("/google-ai-studio", "/google-vertex-ai"):
        if provider in path:
            return path.split(provider, 1)[1]
    return path


def _answer(path: str) -> dict[str, Any]:
    if path.endswith(":generateContent"):
        return _ANSWER
    if path.endswith(":countTokens"):
        return {"totalTokens": 1}
    if path.endswith(":embedContent"):
        return {"embedding": {"values": [0.5]}}
    if path.endswith(":batchGenerateContent"):
        return {"name": "batches/r1", "metadata": {"state": "BATCH_STATE_PENDING"}}
    if "/operations/" in path:
        return {"name": _google_path(path).split("/", 2)[-1], "done": True}
    collection = path.rsplit("/", 1)[-1]
    if collection in ("fileSearchStores", "cachedContents"):  # a create: the new name
        return {"name": f"{collection}/r1"}
    return {}
