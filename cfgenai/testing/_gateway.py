"""The gateway between client and Google: routing, authentication, request options, stored
keys, the cache, retries, the OpenAI-compatible endpoint and the response info headers."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from .._errors import ConfigError
from .._options import OPTION_HEADERS, GatewayOptions, validate_options
from .._settings import PROVIDER, VERTEX
from . import _compat
from ._answers import Answer, gateway_error
from ._cache import AnswerCache
from ._journal import Journal, RecordedRequest
from ._provider import VERTEX_CALL, Google, GoogleSettings, provider_key
from ._script import Script

_NO_OPTIONS = GatewayOptions()
_SAFE_MODEL = re.compile(r"[\x21-\x7e]+")  # it goes into a path and a response header
# /v1/{account}/{gateway}/{provider}{rest}
_GATEWAY_PATH = re.compile(
    r"/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/(?P<provider>[^/]+)(?P<rest>/.*)?"
)
# A custom domain's root stands for one account's gateway: /{provider}{rest}
_DOMAIN_PATH = re.compile(r"/(?P<provider>google-ai-studio|google-vertex-ai|compat)(?P<rest>/.*)?")


class GatewaySettings(GoogleSettings, Protocol):
    @property
    def token(self) -> str | None: ...
    @property
    def access_token(self) -> str | None: ...
    @property
    def account_id(self) -> str | None: ...
    @property
    def gateway_id(self) -> str | None: ...
    @property
    def cache_ttl(self) -> int | None: ...
    @property
    def clock(self) -> Callable[[], float]: ...


class Gateway:
    def __init__(self, settings: GatewaySettings, journal: Journal, script: Script) -> None:
        self._settings = settings
        self._journal = journal
        self._script = script
        self._google = Google(settings, script)
        self.cache = AnswerCache(lambda: settings.clock())

    async def answer(self, request: RecordedRequest) -> Answer:
        settings = self._settings
        match = _GATEWAY_PATH.fullmatch(request.path) or _DOMAIN_PATH.fullmatch(request.path)
        if match is None:
            return gateway_error(7000)
        route = match.groupdict()
        if (
            settings.account_id and route.get("account", settings.account_id) != settings.account_id
        ) or (
            settings.gateway_id and route.get("gateway", settings.gateway_id) != settings.gateway_id
        ):
            return gateway_error(2001)
        compat = route["provider"] == "compat"
        key = provider_key(request, route["provider"])
        if settings.token:
            access = (
                settings.access_token and request.header("cf-access-token") == settings.access_token
            )
            # The token may stand in for the provider key (Cloudflare's own SDK examples).
            if key == settings.token:
                key = None
            elif (
                request.header("cf-aig-authorization") != f"Bearer {settings.token}" and not access
            ):
                return gateway_error(2009)
        refusal = self._script.take_refusal(request.path)
        if refusal is not None:
            return gateway_error(refusal)
        sent = {
            name: request.headers[h] for name, h in OPTION_HEADERS.items() if h in request.headers
        }
        try:
            options = validate_options(sent) if sent else _NO_OPTIONS
        except ConfigError as exc:
            return gateway_error(2005, "; ".join(exc.problems))
        except RecursionError:
            return gateway_error(2005, "an option header's JSON is nested too deeply")
        if compat and route["rest"] == "/chat/completions" and request.method == "POST":
            return await self._compat(request, key, options)
        if route["provider"] in (PROVIDER, VERTEX) and route["rest"]:
            upstream = replace(request, path=route["rest"])
            return await self._through_gateway(request, upstream, key, options)
        return gateway_error(7000)

    async def _compat(
        self, request: RecordedRequest, key: str | None, options: GatewayOptions
    ) -> Answer:
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
        answer = await self._through_gateway(request, upstream, key, options)
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
    ) -> Answer:
        """What the gateway adds around the upstream call: key, cache, retries, headers."""
        key = provider_key
        if key is None:
            alias = options.byok_alias or "default"
            if alias in self._settings.stored_keys:
                key = self._settings.stored_keys[alias]
            elif options.byok_alias is not None:
                return gateway_error(2040)
        headers = {
            "cf-aig-log-id": os.urandom(16).hex(),
            "cf-aig-step": "0",
            "cf-aig-provider": PROVIDER,
        }
        if upstream.model:
            headers["cf-aig-model"] = upstream.model
        if options.event_id:
            headers["cf-aig-event-id"] = options.event_id
        ttl = self._settings.cache_ttl if options.cache_ttl is None else options.cache_ttl  # 0: off
        cache_key = options.cache_key or AnswerCache.key(request.path, key, request.body)
        if ttl and not options.skip_cache:
            cached = self.cache.get(cache_key)
            if cached is not None:
                return replace(cached, headers={**headers, "cf-aig-cache-status": "HIT"})
        answer = await self._upstream_attempts(upstream, key, options)
        if ttl:
            headers["cf-aig-cache-status"] = "MISS"
            if answer.status == 200 and answer.fault is None and not options.skip_cache:
                self.cache.put(cache_key, answer, ttl)
        answer.headers.update(headers)
        return answer

    async def _upstream_attempts(
        self, upstream: RecordedRequest, key: str | None, options: GatewayOptions
    ) -> Answer:
        """Google's answer, retried as ``cf-aig-max-attempts`` and its delay ask."""
        # Cloudflare-only credentials and options stop here.
        headers = {
            k: v for k, v in upstream.headers.items() if not k.startswith(("cf-aig-", "cf-access-"))
        }
        headers.pop("x-goog-api-key", None)
        headers.pop("authorization", None)
        if key is not None and VERTEX_CALL.match(upstream.path):
            headers["authorization"] = f"Bearer {key}"
        elif key is not None:
            headers["x-goog-api-key"] = key
        forwarded = replace(upstream, headers=headers)
        attempts = options.max_attempts or 1
        for attempt in range(1, attempts + 1):
            self._journal.sent_upstream(forwarded)
            answer = await self._google.answer(forwarded)
            if attempt == attempts or (answer.status < 500 and answer.status != 429):
                break
            factor = {"linear": attempt, "exponential": 2 ** (attempt - 1)}.get(
                options.backoff or "", 1
            )
            await asyncio.sleep((options.retry_delay_ms or 0) / 1000 * factor)
        return answer


def _google_text(answer: Any) -> str:
    return "".join(p.get("text", "") for p in answer["candidates"][0]["content"]["parts"])
