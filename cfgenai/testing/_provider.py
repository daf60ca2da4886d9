"""The stand-in for Google behind the gateway: checks the key, applies scripted faults, and
answers model calls in Gemini's shapes."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from typing import Protocol

from . import _google
from ._answers import Answer
from ._billing import UNIFIED_BILLING_KEY
from ._journal import MODEL_CALL, MODEL_PATH, RecordedRequest
from ._script import Script

PROVIDER, VERTEX = "google-ai-studio", "google-vertex-ai"
VERTEX_CALL = re.compile(r"/v\d+\w*/projects/[^/]+/locations/[^/]+/publishers/google/models/")


class GoogleSettings(Protocol):
    @property
    def google_keys(self) -> Iterable[str] | None: ...
    @property
    def stored_keys(self) -> Mapping[str, str]: ...


def provider_key(request: RecordedRequest, provider: str) -> str | None:
    """The provider credential a request carries: Google's header, or a bearer token."""
    if provider == PROVIDER:
        return request.header("x-goog-api-key")
    bearer = request.header("authorization")
    return bearer.removeprefix("Bearer ").strip() if bearer else None


class Google:
    def __init__(self, settings: GoogleSettings, script: Script) -> None:
        self._settings = settings
        self._script = script

    async def answer(self, request: RecordedRequest) -> Answer:
        key = provider_key(request, VERTEX if VERTEX_CALL.match(request.path) else PROVIDER)
        if key is None:
            return Answer(403, _google.error(403))
        accepted = self._settings.google_keys
        if (
            accepted is not None
            and key not in accepted
            and key not in self._settings.stored_keys.values()
            and key != UNIFIED_BILLING_KEY
        ):
            return Answer(400, _google.error(400))
        fault = self._script.take_fault(request.path)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status is not None:
                retry_after = (
                    {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
                )
                return Answer(fault.status, fault.body, headers=retry_after)
        try:
            answer = self._gemini(request)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
            answer = Answer(400, _google.error(400, "Invalid JSON payload received."))
        answer.fault = fault
        return answer

    def _gemini(self, request: RecordedRequest) -> Answer:
        listing = MODEL_PATH.fullmatch(request.path)
        if request.method == "GET" and listing is not None:
            name = listing["model"]
            if name is None:
                return Answer(200, _google.list_models())
            if name in _google.MODELS:
                return Answer(200, _google.model_info(name))
            return Answer(404, _google.error(404, f"models/{name} is not found."))
        call = MODEL_CALL.search(request.path)
        if call is None or request.method != "POST":
            return Answer(404, _google.error(404))
        model, action = call["model"], call["action"]
        if action == "generateContent":
            text = "".join(self._reply(request, model))
            return Answer(200, _google.candidate(model, text, final=True))
        if action == "streamGenerateContent":
            chunks = _google.stream(model, self._reply(request, model))
            return Answer(200, chunks, stream=request.params.get("alt") == "sse")
        if action == "countTokens":
            return Answer(200, _google.count_tokens(request.json))
        if action == "embedContent":
            return Answer(200, _google.embed(request.json))
        if action == "batchEmbedContents":
            return Answer(200, _google.batch_embed(request.json))
        return Answer(404, _google.error(404, f"Method {action} is not found for models/{model}."))

    def _reply(self, request: RecordedRequest, model: str) -> list[str]:
        """The chunks of the answer: scripted, or an echo of the prompt."""
        prompt = _google.prompt_text(request.json)
        scripted = self._script.next_reply()
        if callable(scripted):
            scripted = scripted(request)
        if scripted is None:
            words = f"Echo from {model}: {prompt}".split(" ")
            return [w if i == 0 else f" {w}" for i, w in enumerate(words)]
        return [scripted] if isinstance(scripted, str) else list(scripted)
