"""The stand-in for Google behind the gateway: checks the key, applies scripted faults, and
answers model calls and resource routes in Gemini's shapes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from . import _google, _models
from ._answers import Answer
from ._billing import UNIFIED_BILLING_KEY
from ._interactions import Interactions
from ._journal import MODEL_CALL, MODEL_PATH, RecordedRequest
from ._models import Models
from ._resources import CACHES, Resources, not_served
from ._script import Script

PROVIDER, VERTEX, LIVE = "google-ai-studio", "google-vertex-ai", "google"
_BAD_REQUEST = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


class GoogleSettings(Protocol):
    google_keys: Iterable[str] | Callable[[str], bool] | None
    stored_keys: Mapping[str, str]
    batch_polls: int
    upload_sessions: int
    upload_ttl: float
    models: Sequence[str] | None

    @property
    def clock(self) -> Callable[[], float]: ...


def provider_key(request: RecordedRequest, provider: str) -> str | None:
    """The provider credential a request carries: Google's header, a Live session's
    ``api_key`` query parameter, or a bearer token."""
    if provider == PROVIDER:
        return request.header("x-goog-api-key")
    if provider == LIVE:
        return request.params.get("api_key")
    bearer = request.header("authorization")
    return bearer.removeprefix("Bearer ").strip() if bearer else None


class Google:
    def __init__(self, settings: GoogleSettings, script: Script) -> None:
        self._settings = settings
        self._script = script
        self.resources = Resources(
            self._generate,
            settings.clock,
            settings.batch_polls,
            uploads=(settings.upload_sessions, settings.upload_ttl),
        )
        self.interactions = Interactions(self._interact)
        self.models = Models(settings.models)

    async def answer(
        self, request: RecordedRequest, provider: str, upload_url: Callable[[str, str], str]
    ) -> Answer:
        """Google's answer; ``upload_url(path, query)`` is where a resumable upload goes on."""
        answer = await self._answer(request, provider, upload_url)
        if not answer.stream and isinstance(answer.body, dict):  # JSON, as Google labels it
            answer.headers.setdefault("content-type", "application/json; charset=UTF-8")
        return answer

    async def _answer(
        self, request: RecordedRequest, provider: str, upload_url: Callable[[str, str], str]
    ) -> Answer:
        key = provider_key(request, provider)
        # An upload session's chunks are authorised by the session's id, as at Google.
        if key is None and "upload_id" not in request.params:
            return _google.error(403)
        if key is not None and not self.accepts(key):
            return _google.error(400)
        fault = self._script.take_fault(request.path)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.status is not None:
                after = fault.retry_after
                headers = {} if after is None else {"retry-after": f"{after:g}"}
                return Answer(fault.status, fault.body, headers=headers)
        try:
            answer = self._gemini(request, upload_url)
        except _BAD_REQUEST:
            answer = _google.error(400, "Invalid JSON payload received.")
        answer.fault = fault
        return answer

    def accepts(self, key: str | None) -> bool:
        """Whether Google takes ``key``: one of ``google_keys`` (any when None), a stored key,
        or Unified Billing's."""
        accepted = self._settings.google_keys
        if key is None:
            return False
        return (
            accepted is None
            or (accepted(key) if callable(accepted) else key in accepted)
            or key in self._settings.stored_keys.values()
            or key == UNIFIED_BILLING_KEY
        )

    def _gemini(self, request: RecordedRequest, upload_url: Callable[[str, str], str]) -> Answer:
        refused = self._unknown_model(request)
        if refused is not None:
            return refused
        resource = self.resources.answer(request, upload_url) or self.interactions.answer(request)
        if resource is not None:
            return resource
        listing = MODEL_PATH.fullmatch(request.path)
        if request.method == "GET" and listing is not None:
            name = listing["model"]
            if name is None:
                return Answer(200, self.models.listing())
            found = self.models.get(name)
            if found is not None:
                return Answer(200, _models.info(found))
            return _google.error(404, f"models/{name} is not found.")
        call = MODEL_CALL.search(request.path)
        if call is None or request.method != "POST":
            return not_served(request)
        model, action = call["model"], call["action"]
        if action in ("generateContent", "streamGenerateContent"):
            missing = self._missing(request.json)
            if missing is not None:
                return missing
            if action == "generateContent":
                return Answer(200, self.response(request, model))
            chunks = self.responses(request, model)
            return Answer(200, chunks, stream=request.params.get("alt") == "sse")
        if action == "countTokens":
            return Answer(200, _google.count_tokens(request.json))
        if action == "embedContent":
            return Answer(200, _google.embed(request.json))
        if action == "batchEmbedContents":
            return Answer(200, _google.batch_embed(request.json))
        return _google.error(404, f"Method {action} is not found for models/{model}.")

    def _unknown_model(self, request: RecordedRequest) -> Answer | None:
        """Google's 404 for a call (or a cache) naming a model it does not serve, or one that
        lacks the method called."""
        if request.method != "POST":
            return None
        call = MODEL_CALL.search(request.path)
        if call is not None:
            return self.models.refusal(call["model"], call["action"], request.path)
        if CACHES.fullmatch(request.path) and isinstance(request.json.get("model"), str):
            model = request.json["model"].rpartition("models/")[2]
            return self.models.refusal(model, "createCachedContent", request.json["model"])
        return None

    def _missing(self, body: Any) -> Answer | None:
        """Google's 404 for a cached content or file search store the request names but the
        emulator does not hold."""
        cache = body.get("cachedContent")
        if cache and self.resources.cache(cache) is None:
            return _google.error(404, f"CachedContent not found (or expired): {cache}")
        stores = [
            name
            for tool in body.get("tools", [])
            for name in tool.get("fileSearch", {}).get("fileSearchStoreNames", [])
        ]
        unknown = self.resources.stores(stores)
        if unknown:
            return _google.error(404, f"FileSearchStore {unknown[0]} was not found.")
        return None

    def responses(self, request: RecordedRequest, model: str) -> list[dict[str, Any]]:
        """The answer's chunks (a stream's): scripted, or an echo of the prompt."""
        chunks = _google.responses(
            self._reply(request, model), model, **self._sizes(request, model)
        )
        self._count_cached(request, chunks[-1])
        return chunks

    def response(self, request: RecordedRequest, model: str) -> dict[str, Any]:
        """The answer as one response (a non-streamed call's)."""
        answer = _google.whole(self._reply(request, model), model, **self._sizes(request, model))
        self._count_cached(request, answer)
        return answer

    def _reply(self, request: RecordedRequest, model: str, prompt: str | None = None) -> Any:
        scripted = self._script.next_reply()
        if callable(scripted):
            scripted = scripted(request)
        if scripted is None:
            prompt = _google.prompt_text(request.json) if prompt is None else prompt
            words = f"Echo from {model}: {prompt}".split(" ")
            scripted = [w if i == 0 else f" {w}" for i, w in enumerate(words)]
        return scripted

    def _interact(self, request: RecordedRequest, model: str, prompt: str) -> list[dict[str, Any]]:
        """An interaction's answer, as the chunks of a ``generateContent`` stream."""
        prompt_tokens = max(1, len(prompt.split()))
        thinking = self._thinks(model, {})
        return _google.responses(
            self._reply(request, model, prompt), model, prompt=prompt_tokens, thinking=thinking
        )

    def _sizes(self, request: RecordedRequest, model: str) -> dict[str, Any]:
        """The prompt's tokens (a word each) and whether the model thinks about it."""
        prompt = max(1, _google.count_tokens(request.json)["totalTokens"])
        return {"prompt": prompt, "thinking": self._thinks(model, request.json)}

    def _thinks(self, model: str, body: Any) -> bool:
        """Whether ``model`` thinks before it answers, unless asked not to (a budget of 0)."""
        found = self.models.get(model)
        config = body.get("generationConfig", {}).get("thinkingConfig", {})
        return found is not None and found.thinks and config.get("thinkingBudget") != 0

    def _count_cached(self, request: RecordedRequest, answer: dict[str, Any]) -> None:
        cache = self.resources.cache(request.json.get("cachedContent") or "-")
        if cache is not None:  # the tokens the cache holds count as cached
            cached = cache["usageMetadata"]["totalTokenCount"]
            answer.setdefault("usageMetadata", {})["cachedContentTokenCount"] = cached

    def _generate(
        self, request: RecordedRequest, model: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """One ``generateContent`` of a batch: its answer, as a scripted one would be."""
        call = replace(
            request,
            path=f"/v1beta/models/{model}:generateContent",
            body=json.dumps(body).encode(),
            payload=None,
        )
        return self.response(call, model)
