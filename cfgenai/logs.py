"""The gateway's log entries over Cloudflare's REST API: cost and tokens, feedback and score.

``GET``/``PATCH {CLOUDFLARE_API_BASE_URL}/accounts/{account}/ai-gateway/gateways/{gateway}/logs/{id}``
with ``Authorization: Bearer {CLOUDFLARE_API_TOKEN}``: a Cloudflare API token with AI Gateway
Read (and Edit, for feedback) permission, never the gateway's own token.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import _plan
from ._checks import is_loopback_url
from ._compat import httpx_module
from ._errors import CloudflareAPIError, ConfigError
from ._options import validate_options
from ._secrets import mask
from ._settings import GatewaySettings, resolve

__all__ = ["CloudflareAPIError", "LogEntry", "afeedback", "aget_log", "feedback", "get_log"]

_LOG_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class LogEntry:
    """What the gateway logged about one request; ``None`` where the entry has no value.

    ``cost`` is in US dollars; ``metadata`` is the request's ``cf-aig-metadata`` (and any
    given with feedback); ``raw`` is the whole entry as the API returned it.
    """

    id: str
    model: str | None
    provider: str | None
    status_code: int | None
    cached: bool | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    metadata: dict[str, Any]
    created_at: datetime | None
    duration_ms: int | None = None
    success: bool | None = None
    feedback: int | None = None
    score: float | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


# -- the four calls ------------------------------------------------------------------------------


def get_log(log_id: str, *, settings: GatewaySettings | None = None) -> LogEntry:
    """The gateway's log entry ``log_id`` (``gateway_info(response).log_id``).

    Reads ``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_API_BASE_URL`` and the account and gateway
    (``CF_AIG_ACCOUNT_ID``/``CF_AIG_GATEWAY_ID`` or ``CF_AIG_BASE_URL``). Raises
    ``ConfigError`` for a missing token or a bad id, ``CloudflareAPIError`` for a refusal.
    """
    call = _LogsRequest(settings, log_id, "GET", None)
    with httpx_module().Client(**call.client_args) as client:
        return _log_entry(call.result(client.request(**call.request_args)))


def feedback(
    log_id: str,
    *,
    feedback: int | None = None,
    score: float | None = None,
    metadata: Mapping[str, Any] | None = None,
    settings: GatewaySettings | None = None,
) -> None:
    """Rate the request logged as ``log_id``: ``feedback`` 1 (good) or -1 (bad), ``score``
    from 0 to 100, ``metadata`` (at most 5 string, number or boolean values). Needs a token
    with AI Gateway Edit permission; otherwise as :func:`get_log`."""
    call = _LogsRequest(settings, log_id, "PATCH", _feedback_body(feedback, score, metadata))
    with httpx_module().Client(**call.client_args) as client:
        call.result(client.request(**call.request_args))


async def aget_log(log_id: str, *, settings: GatewaySettings | None = None) -> LogEntry:
    """:func:`get_log`, without blocking the event loop."""
    call = _LogsRequest(settings, log_id, "GET", None)
    async with httpx_module().AsyncClient(**call.client_args) as client:
        return _log_entry(call.result(await client.request(**call.request_args)))


async def afeedback(
    log_id: str,
    *,
    feedback: int | None = None,
    score: float | None = None,
    metadata: Mapping[str, Any] | None = None,
    settings: GatewaySettings | None = None,
) -> None:
    """:func:`feedback`, without blocking the event loop."""
    call = _LogsRequest(settings, log_id, "PATCH", _feedback_body(feedback, score, metadata))
    async with httpx_module().AsyncClient(**call.client_args) as client:
        call.result(await client.request(**call.request_args))


# -- how ---------------------------------------------------------------------------------------


class _LogsRequest:
    """One request to the logs API, checked before anything is sent."""

    def __init__(
        self,
        settings: GatewaySettings | None,
        log_id: str,
        method: str,
        body: dict[str, Any] | None,
    ) -> None:
        plan = _plan.plan(resolve(settings, {}))
        route = plan.logs
        problems = [] if isinstance(route, _plan.Route) else list(route)
        if not isinstance(log_id, str) or not _LOG_ID.fullmatch(log_id):
            problems.insert(
                0,
                "log_id: must be a log id as the gateway gives it (gateway_info(response)."
                "log_id): letters, digits, '-' and '_'",
            )
        if problems or not isinstance(route, _plan.Route):
            raise ConfigError(problems)
        self.secrets, self.log_id = route.secrets(), log_id
        # {api base}/accounts/{account}/ai-gateway/gateways/{gateway}/logs
        _, self.account, _, _, self.gateway, _ = route.url.rsplit("/", 5)
        url = f"{route.url}/{log_id}"
        self.client_args: dict[str, Any] = {
            "timeout": plan.timeout,
            "follow_redirects": False,
            "trust_env": not is_loopback_url(url),  # no proxy sees what goes to this machine
        }
        self.request_args: dict[str, Any] = {
            "method": method,
            "url": url,
            "headers": route.credential_headers(),
            "json": body,
        }

    def result(self, response: Any) -> Any:
        """The envelope's ``result``, or the refusal as a ``CloudflareAPIError``."""
        try:
            body = response.json()
        except ValueError:
            body = None
        envelope = body if isinstance(body, dict) else {}
        errors = [e for e in envelope.get("errors") or [] if isinstance(e, dict)]
        if response.status_code < 300 and envelope.get("success") is True:
            return envelope.get("result")
        codes = tuple(e["code"] for e in errors if isinstance(e.get("code"), int))
        reason = "; ".join(str(e.get("message", "")) for e in errors if e.get("message"))
        # The API may echo what it was sent: never let the token through.
        reason = mask(reason, self.secrets)[:500]
        if not envelope:
            reason = "not Cloudflare's API envelope: check CLOUDFLARE_API_BASE_URL"
        status = response.status_code
        raise CloudflareAPIError(status, codes, reason, self._hint(status, codes))

    def _hint(self, status: int, codes: tuple[int, ...]) -> str:
        if status in (401, 403) or 10000 in codes:
            return (
                "check CLOUDFLARE_API_TOKEN: it must be a Cloudflare API token with AI Gateway "
                "Read permission (Edit to give feedback) on this account, not the gateway token"
            )
        if status == 404:
            return (
                f"no log entry {self.log_id} in gateway {self.gateway} of account "
                f"{self.account}: check the log id (gateway_info(response).log_id) and "
                "CF_AIG_ACCOUNT_ID/CF_AIG_GATEWAY_ID; a request sent with logging off has no "
                "entry, and an entry appears shortly after its request"
            )
        if 300 <= status < 400:
            return "the API answered with a redirect, which cfgenai does not follow: check CLOUDFLARE_API_BASE_URL"
        if status == 400:
            return "the API refused the request as invalid; see the reason above"
        return "retry later; Cloudflare's status page tells of outages"


def _feedback_body(feedback: Any, score: Any, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    problems = []
    body: dict[str, Any] = {}
    if feedback is not None:
        if isinstance(feedback, bool) or feedback not in (-1, 1):
            problems.append("feedback: must be 1 (good) or -1 (bad)")
        body["feedback"] = feedback
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100:
            problems.append("score: must be a number from 0 to 100")
        body["score"] = score
    if metadata is not None:
        try:
            body["metadata"] = validate_options({"metadata": dict(metadata)}).metadata
        except ConfigError as exc:
            problems += exc.problems
    if not body:
        problems.append("feedback(): give feedback, score or metadata (or several)")
    if problems:
        raise ConfigError(problems)
    return body


def _log_entry(result: Any) -> LogEntry:
    entry = result if isinstance(result, dict) else {}
    return LogEntry(
        id=str(entry.get("id", "")),
        model=_typed(entry, "model", str),
        provider=_typed(entry, "provider", str),
        status_code=_typed(entry, "status_code", int),
        cached=_typed(entry, "cached", bool),
        tokens_in=_typed(entry, "tokens_in", int),
        tokens_out=_typed(entry, "tokens_out", int),
        cost=_number(entry.get("cost")),
        metadata=_metadata(entry.get("metadata")),
        created_at=_datetime(entry.get("created_at")),
        duration_ms=_typed(entry, "duration", int),
        success=_typed(entry, "success", bool),
        feedback=_typed(entry, "feedback", int),
        score=_number(entry.get("score")),
        raw=entry,
    )


def _typed(entry: Mapping[str, Any], name: str, kind: type) -> Any:
    value = entry.get(name)
    is_bool_for_int = kind is int and isinstance(value, bool)
    return value if isinstance(value, kind) and not is_bool_for_int else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _metadata(value: Any) -> dict[str, Any]:
    # Cloudflare returns the metadata as the JSON text of the request's header.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return {}
    return value if isinstance(value, dict) else {}


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)  # 3.11 reads a trailing Z too
    except ValueError:
        return None
