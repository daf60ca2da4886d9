"""The gateway between client and Google: routing, authentication, request options, stored
keys, the cache, retries, the OpenAI-compatible endpoint and the response info headers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

from . import _compat
from ._answers import RESPONSE_REFUSALS, Answer, gateway_error, policy_refusal
from ._billing import Credential, RateLimit, credential
from ._cache import AnswerCache
from ._journal import MODEL_CALL, Journal, RecordedRequest
from ._live import LiveEndpoint
from ._logs import LogStore, uuid7
from ._models import Models
from ._provider import PROVIDER, VERTEX, Google, GoogleSettings, provider_key
from ._resources import GOOGLE_HOST, Resources
from ._rules import Options, read_options
from ._script import Script

_SAFE_MODEL = re.compile(r"[\x21-\x7e]+")  # it goes into a path and a response header
# /v1/{account}/{gateway}/{provider}{rest}
_GATEWAY_PATH = re.compile(
    r"/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/(?P<provider>[^/]+)(?P<rest>/.*)?"
)
# A custom domain's root stands for one account's gateway: /{provider}{rest}
_DOMAIN_PATH = re.compile(
    r"/(?P<provider>google-ai-studio|google-vertex-ai|compat|google)(?P<rest>/.*)?"
)


class GatewaySettings(GoogleSettings, Protocol):
    token: str | None
    access_token: str | None
    account_id: str | None
    gateway_id: str | None
    cache_ttl: int | None
    cache_bytes: int
    unified_billing: bool
    unified_billing_limit: tuple[int, float] | None
    guardrails: bool
    policies: Sequence[Callable[[RecordedRequest], bool]] | None
    upload_urls: Literal["google", "gateway"]

    @property
    def url(self) -> str: ...


class Gateway:
    def __init__(
        self, settings: GatewaySettings, journal: Journal, script: Script, logs: LogStore
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._script = script
        self._google = Google(settings, script)
        self.live = LiveEndpoint(self, self._google, journal, script)
        self.cache = AnswerCache(lambda: settings.clock(), settings.cache_bytes)
        self.logs = logs
        limit = settings.unified_billing_limit
        self.unified_limit = None if limit is None else RateLimit(*limit, lambda: settings.clock())

    @property
    def resources(self) -> Resources:
        return self._google.resources

    @property
    def models(self) -> Models:
        return self._google.models

    def clear(self) -> None:
        self.resources.clear()
        self._google.interactions.clear()
        self._google.models.reset()
        self.cache.clear()
        self.logs.clear()
        if self.unified_limit is not None:
            self.unified_limit.clear()

    async def answer(self, request: RecordedRequest) -> Answer:
        admitted = self.admit(request)
        if isinstance(admitted, Answer):
            return admitted
        route, key = admitted
        started = time.perf_counter()
        answer = await self._authorized(request, route, key)
        return self._logged(request, route["provider"], answer, time.perf_counter() - started)

    def credential(self, key: str | None, options: Options) -> Credential:
        """Which credential pays the provider (see ``_billing``)."""
        stored, unified = self._settings.stored_keys, self._settings.unified_billing
        return credential(key, options, stored, unified_billing=unified)

    def admit(self, request: RecordedRequest) -> tuple[dict[str, Any], str | None] | Answer:
        """The request's route and provider key, or the gateway's refusal: no such route,
        another gateway, or no valid token."""
        settings = self._settings
        match = _GATEWAY_PATH.fullmatch(request.path) or _DOMAIN_PATH.fullmatch(request.path)
        if match is None:
            return gateway_error(7000)
        route = match.groupdict()
        ids = {"account": settings.account_id, "gateway": settings.gateway_id}
        if any(want and route.get(name, want) != want for name, want in ids.items()):
            return gateway_error(2001)
        key = provider_key(request, route["provider"])
        if settings.token:
            authorized = request.header("cf-aig-authorization") == f"Bearer {settings.token}" or (
                settings.access_token and request.header("cf-access-token") == settings.access_token
            )
            # The token may stand in for the provider key (Cloudflare's own SDK examples).
            if key == settings.token:
                key = None
            elif not authorized:
                return gateway_error(2009)
        return route, key

    def _logged(
        self, request: RecordedRequest, provider: str, answer: Answer, seconds: float
    ) -> Answer:
        """``answer`` with its request id (a UUIDv7: also the log id and, unless the request
        named one, the event id), logged under that id."""
        request_id = uuid7()
        answer.headers.update(
            {
                "cf-aig-request-id": request_id,
                "cf-aig-log-id": request_id,
                "cf-aig-event-id": request.header("cf-aig-event-id") or request_id,
            }
        )
        provider = PROVIDER if provider == "compat" else provider
        self.logs.add(request_id, request, answer, provider=provider, seconds=seconds)
        return answer

    async def _authorized(
        self, request: RecordedRequest, route: dict[str, Any], key: str | None
    ) -> Answer:
        refusal = self._script.take_refusal(request.path)
        if refusal is not None and refusal.code not in RESPONSE_REFUSALS:
            return refusal.answer()
        # Taken as the request arrives: one still in flight from before a reset takes none.
        flag = self._script.take_flag(request.path)
        options = read_options(request.headers)
        if isinstance(options, str):
            return gateway_error(2005, options)
        if (
            route["provider"] == "compat"
            and route["rest"] == "/chat/completions"
            and request.method == "POST"
        ):
            answer = await self._compat(request, key, options)
        elif route["provider"] in (PROVIDER, VERTEX) and route["rest"]:
            upstream = replace(request, path=route["rest"])
            answer = await self._through_gateway(request, upstream, key, options, route["provider"])
        else:
            return gateway_error(7000)
        if refusal is not None:  # the provider answered; the gateway refuses to pass it on
            return replace(refusal.answer(), billing=answer.billing)
        if flag is not None and answer.status < 400:
            answer.headers["cf-aig-dlp"] = flag
        return answer

    async def _compat(self, request: RecordedRequest, key: str | None, options: Options) -> Answer:
        try:
            body = request.json
            model = _compat.model_of(body)
            gemini = _compat.to_gemini(body)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return Answer(400, _compat.error(400, "the body must be a chat completion request"))
        if model is None or not _SAFE_MODEL.fullmatch(model):
            return Answer(400, _compat.error(400, "model must be google-ai-studio/{model}"))
        streamed = body.get("stream") is True
        action = "streamGenerateContent" if streamed else "generateContent"
        upstream = replace(
            request,
            path=f"/v1beta/models/{model}:{action}",
            query="alt=sse" if streamed else "",
            body=json.dumps(gemini).encode(),
        )
        answer = await self._through_gateway(request, upstream, key, options, PROVIDER)
        if answer.status != 200 or (answer.fault and answer.fault.malformed):
            return answer
        if streamed and answer.stream:  # (Guardrails answer a stream as one payload)
            texts = [_google_text(chunk) for chunk in answer.body]
            body = _compat.completion_chunks(model, texts)
            return replace(answer, body=body, stream=True, done_marker=True)
        return replace(answer, body=_compat.completion(model, _google_text(answer.body)))

    async def _through_gateway(
        self,
        request: RecordedRequest,
        upstream: RecordedRequest,
        provider_key: str | None,
        options: Options,
        provider: str,
    ) -> Answer:
        """What the gateway adds around the upstream call: key, cache, retries, headers."""
        paid = self.credential(provider_key, options)
        if paid.code is not None:
            return gateway_error(paid.code)
        key = paid.key
        headers = {"cf-aig-step": "0", "cf-aig-provider": PROVIDER}
        if upstream.model:
            headers["cf-aig-model"] = upstream.model
        ttl = options["cf-aig-cache-ttl"]
        ttl = self._settings.cache_ttl if ttl is None else ttl  # 0: off
        # Model calls only: Cloudflare documents caching for them; an upload session or a
        # resource read from the cache would be stale.
        ttl = ttl if request.method == "POST" and MODEL_CALL.search(upstream.path) else 0
        skip = options["cf-aig-skip-cache"]
        cache_key = options["cf-aig-cache-key"] or AnswerCache.key(request.path, key, request.body)
        if ttl and not skip:
            cached = self.cache.get(cache_key)
            if cached is not None:  # cached answers skip Policies
                headers["cf-aig-cache-status"] = "HIT"
                return replace(cached, headers={**cached.headers, **headers}, billing=None)
        policies = self._settings.policies
        if policies is not None and not any(allows(request) for allows in policies):
            return policy_refusal("policy")
        limit = self.unified_limit
        if paid.billing == "unified" and limit is not None and not limit.allow():
            return gateway_error(
                2003,
                f"Unified Billing allows {limit.requests} requests per {limit.seconds:g} s per gateway",
            )
        prefix = request.path.removesuffix(upstream.path)

        def upload_url(path: str, query: str) -> str:
            # Where a resumable upload goes on: Google's URL, which the gateway passes on.
            if self._settings.upload_urls == "gateway":
                return f"{self._settings.url}{prefix}{path}?{query}"
            return f"{GOOGLE_HOST}{path}?{query}"

        answer = await self._upstream_attempts(upstream, key, options, provider, upload_url)
        answer.billing = paid.billing
        if self._settings.guardrails and answer.stream and answer.status == 200:
            answer = _buffered(answer)
        if ttl:
            headers["cf-aig-cache-status"] = "MISS"
            if answer.status == 200 and answer.fault is None and not skip:
                self.cache.put(cache_key, answer, ttl)
        answer.headers.update(headers)
        return answer

    async def _upstream_attempts(
        self,
        upstream: RecordedRequest,
        key: str | None,
        options: Options,
        provider: str,
        upload_url: Callable[[str, str], str],
    ) -> Answer:
        """Google's answer, retried as ``cf-aig-max-attempts`` and its delay ask."""
        # Cloudflare-only credentials and options stop here.
        headers = {
            k: v for k, v in upstream.headers.items() if not k.startswith(("cf-aig-", "cf-access-"))
        }
        headers.pop("x-goog-api-key", None)
        headers.pop("authorization", None)
        if key is not None and provider == VERTEX:
            headers["authorization"] = f"Bearer {key}"
        elif key is not None:
            headers["x-goog-api-key"] = key
        forwarded = replace(upstream, headers=headers)
        attempts = options["cf-aig-max-attempts"] or 1
        for attempt in range(1, attempts + 1):
            self._journal.sent_upstream(forwarded)
            answer = await self._google.answer(forwarded, provider, upload_url)
            if attempt == attempts or (answer.status < 500 and answer.status != 429):
                break
            factor = {"linear": attempt, "exponential": 2 ** (attempt - 1)}.get(
                options["cf-aig-backoff"], 1
            )
            await asyncio.sleep((options["cf-aig-retry-delay"] or 0) / 1000 * factor)
        return answer


def _buffered(answer: Answer) -> Answer:
    """A stream as Guardrails return it: scanned whole, then sent as one JSON payload."""
    chunks = answer.body
    text = "".join(_google_text(chunk) for chunk in chunks)
    whole = {**chunks[-1], "candidates": [dict(chunks[-1]["candidates"][0])]}
    whole["candidates"][0]["content"] = {"parts": [{"text": text}], "role": "model"}
    return replace(answer, body=whole, stream=False, fault=None)


def _google_text(answer: Any) -> str:
    return "".join(p.get("text", "") for p in answer["candidates"][0]["content"]["parts"])
