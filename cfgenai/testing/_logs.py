"""The gateway's log entries, and the part of Cloudflare's REST API that reads and annotates
them: ``GET`` and ``PATCH /client/v4/accounts/{account}/ai-gateway/gateways/{gateway}/logs/{id}``.

Entries carry what the emulator answered: tokens from the answer's ``usageMetadata`` and a
cost from the request's ``cf-aig-custom-cost``, else from the list prices below.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from ._answers import Answer
from ._journal import RecordedRequest
from ._rules import METADATA_ENTRIES

# US dollars per token when a request names no custom cost (Gemini 2.5 Flash's list prices).
PRICE_IN, PRICE_OUT = 0.30 / 1e6, 2.50 / 1e6
API_PATH = re.compile(
    r"/client/v4/accounts/(?P<account>[^/]+)/ai-gateway/gateways/(?P<gateway>[^/]+)"
    r"/logs/(?P<log_id>[^/]+)"
)
# Cloudflare's code for a missing or wrong API token; for the rest, 9 and the HTTP status.
AUTH_ERROR = 10000


def uuid7(now: float | None = None) -> str:
    """A lowercase UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits."""
    millis = int((time.time() if now is None else now) * 1000) & (2**48 - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & (2**62 - 1))
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def weight(entry: dict[str, Any]) -> int:
    """Roughly the memory a log entry takes: its dictionary (about 700 bytes with its numbers),
    and each of its strings (about 50 bytes of its own)."""
    return 700 + sum(len(v) + 50 for v in entry.values() if isinstance(v, str))


class LogStore:
    """The newest log entries by id, at most ``size`` of them and ``budget`` bytes by their
    ``weight`` (the oldest dropped first, the newest kept however large), and the
    feedback given to them."""

    def __init__(self, size: int, budget: int) -> None:
        self._lock = threading.Lock()
        self._size, self._budget = size, budget
        # id -> (entry, its weight), oldest first
        self._entries: OrderedDict[str, tuple[dict[str, Any], int]] = OrderedDict()
        self._kept = 0

    def add(
        self,
        log_id: str,
        request: RecordedRequest,
        answer: Answer,
        *,
        provider: str,
        seconds: float,
    ) -> None:
        tokens_in, tokens_out = _tokens(answer)
        cached = answer.headers.get("cf-aig-cache-status") == "HIT"
        custom = _json_header(request, "cf-aig-custom-cost")
        price_in = custom.get("per_token_in", PRICE_IN)
        price_out = custom.get("per_token_out", PRICE_OUT)
        cost = 0.0 if cached else round(tokens_in * price_in + tokens_out * price_out, 12)
        metadata = request.header("cf-aig-metadata")
        entry = {
            "id": log_id,
            "created_at": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "duration": round(seconds * 1000),
            "model": answer.headers.get("cf-aig-model") or request.model or "",
            "provider": provider,
            "path": request.path,
            "success": answer.status < 400,
            "status_code": answer.status,
            "cached": cached,
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost": cost if math.isfinite(cost) else None,  # a custom cost of 1e308 overflows
            "custom_cost": bool(custom),
            "metadata": metadata,
            "step": 0,
            # Not in Cloudflare's entry; the emulator's record of who paid the provider.
            "billing": answer.billing,
            "feedback": None,
            "score": None,
        }
        with self._lock:
            self._keep(log_id, entry)

    def _keep(self, log_id: str, entry: dict[str, Any]) -> None:
        """Keep (or re-weigh) ``entry``, then drop the oldest until the rest fit (lock held)."""
        old = self._entries.get(log_id)
        size = weight(entry)
        self._kept += size - (old[1] if old else 0)
        self._entries[log_id] = entry, size
        while len(self._entries) > self._size or (
            self._kept > self._budget and len(self._entries) > 1
        ):
            _, (_, dropped) = self._entries.popitem(last=False)
            self._kept -= dropped

    def get(self, log_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._entries.get(log_id)
            return dict(found[0]) if found is not None else None

    @property
    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry, _ in self._entries.values()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._kept = 0

    # -- the REST API ---------------------------------------------------------------------

    def api_answer(
        self, request: RecordedRequest, api_token: str | None, ids: tuple[str | None, str | None]
    ) -> Answer:
        """Cloudflare's answer to a logs API request, in its envelope."""
        route = API_PATH.fullmatch(request.path)
        if route is None:
            return api_error(404, 9404, "No route for that URI")
        bearer = request.header("authorization") or ""
        token = bearer[7:] if bearer[:7].lower() == "bearer " else ""
        if not token or (api_token is not None and token != api_token):
            return api_error(401, AUTH_ERROR, "Authentication error")
        account, gateway = ids
        if (account and route["account"] != account) or (gateway and route["gateway"] != gateway):
            return api_error(404, 9404, "Gateway not found")
        log_id = route["log_id"]
        with self._lock:
            found = self._entries.get(log_id)
            if found is None:
                return api_error(404, 9404, "Log not found")
            entry = found[0]
            if request.method == "GET":
                return Answer(200, envelope(dict(entry)))
            if request.method != "PATCH":
                return api_error(405, 9405, "Method not allowed")
            patch = _feedback(request)
            if isinstance(patch, str):
                return api_error(400, 9400, patch)
            if "metadata" in patch:
                patch["metadata"] = json.dumps(patch["metadata"], separators=(",", ":"))
            entry.update(patch)
            self._keep(log_id, entry)
        return Answer(200, envelope({}))


def envelope(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


def api_error(status: int, code: int, message: str) -> Answer:
    errors = [{"code": code, "message": message}]
    return Answer(status, {**envelope(None), "success": False, "errors": errors})


def _feedback(request: RecordedRequest) -> dict[str, Any] | str:
    """A ``PATCH``'s feedback, score and metadata, or what is wrong with them."""
    try:
        patch = request.json
    except (ValueError, RecursionError):
        return "the body must be a JSON object"
    if not isinstance(patch, dict) or not patch or set(patch) - {"feedback", "score", "metadata"}:
        return "the body takes feedback, score and metadata"
    feedback = patch.get("feedback", 1)
    if isinstance(feedback, bool) or feedback not in (-1, 1):
        return "feedback must be -1 or 1"
    score = patch.get("score", 0)
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100:
        return "score must be a number from 0 to 100"
    metadata = patch.get("metadata", {})
    if not isinstance(metadata, dict) or len(metadata) > METADATA_ENTRIES:
        return f"metadata must be an object of at most {METADATA_ENTRIES} entries"
    return patch


def _tokens(answer: Answer) -> tuple[int, int]:
    """Prompt and answer tokens from Gemini's ``usageMetadata`` (a stream's last chunk)."""
    body = answer.body[-1] if isinstance(answer.body, list) and answer.body else answer.body
    usage = body.get("usageMetadata") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("promptTokenCount", 0)), int(usage.get("candidatesTokenCount", 0))


def _json_header(request: RecordedRequest, name: str) -> dict[str, Any]:
    try:
        value = json.loads(request.header(name) or "{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
