"""The gateway's log entries (cost, tokens) and feedback, over Cloudflare's REST API
(``{CLOUDFLARE_API_BASE_URL}/accounts/{account}/ai-gateway/gateways/{gateway}/logs/{id}``) with
``CLOUDFLARE_API_TOKEN``, an API token with AI Gateway permissions, never the gateway's own."""

import asyncio
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import UnionType
from typing import Any, TypeVar, get_args

from . import _plan
from ._compat import httpx_module
from ._errors import CloudflareAPIError, ConfigError, Reach, host_port
from ._options import validate_options
from ._secrets import mask, mask_in_place
from ._settings import GatewaySettings, resolve

__all__ = ["CloudflareAPIError", "LogEntry", "afeedback", "aget_log", "feedback", "get_log"]

_LOG_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
T = TypeVar("T")


@dataclass(frozen=True)
class LogEntry:
    """What the gateway logged about one request; ``None`` where the entry has no value.
    ``cost`` is in US dollars, ``metadata`` the request's ``cf-aig-metadata`` (and any given
    with feedback), ``raw`` the entry as the API returned it."""

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


def get_log(log_id: str, *, settings: GatewaySettings | None = None) -> LogEntry:
    """The gateway's log entry ``log_id`` (``gateway_info(response).log_id``). Reads
    ``CLOUDFLARE_API_TOKEN``, ``CLOUDFLARE_API_BASE_URL`` and the account and gateway; raises
    ``ConfigError`` before sending anything, ``CloudflareAPIError`` for the API's refusal."""
    return _log_entry(_send(settings, log_id, "GET"))


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
    with AI Gateway Edit permission; otherwise as ``get_log``."""
    _send(settings, log_id, "PATCH", _feedback_body(feedback, score, metadata))


async def aget_log(log_id: str, *, settings: GatewaySettings | None = None) -> LogEntry:
    """``get_log``, without blocking the event loop."""
    return _log_entry(await asyncio.to_thread(_send, settings, log_id, "GET"))


async def afeedback(
    log_id: str,
    *,
    feedback: int | None = None,
    score: float | None = None,
    metadata: Mapping[str, Any] | None = None,
    settings: GatewaySettings | None = None,
) -> None:
    """``feedback``, without blocking the event loop."""
    body = _feedback_body(feedback, score, metadata)  # checked here, before the thread
    await asyncio.to_thread(_send, settings, log_id, "PATCH", body)


def _send(settings: GatewaySettings | None, log_id: str, method: str, body: Any = None) -> Any:
    """The ``result`` of one request to the logs API, checked before anything is sent."""
    plan = _plan.plan(resolve(settings, {}))
    route = plan.logs
    problems = [] if isinstance(route, _plan.Route) else list(route)
    if not isinstance(log_id, str) or not _LOG_ID.fullmatch(log_id):
        problems.insert(0, "log_id: must be a log id from gateway_info(): letters, digits, - and _")
    if problems or not isinstance(route, _plan.Route):
        raise ConfigError(problems)
    route.leaving()
    headers = {"User-Agent": _plan.USER_AGENT, **route.credential_headers()}
    # No proxy for this machine; httpx follows no redirect, which would carry the token elsewhere.
    url = f"{route.url}/{log_id}"
    with httpx_module().Client(timeout=plan.timeout, trust_env=not route.direct) as client:
        request = client.build_request(method, url, headers=headers, json=body)
        try:
            with Reach(host_port(url), 1, plan.timeout, "Cloudflare's API"):
                response = client.send(request)
        finally:  # sent: the errors that keep it keep no token
            mask_in_place(request.headers)
    envelope = _parsed(json.loads, response.text)
    envelope = envelope if type(envelope) is dict else {}
    status = response.status_code
    if status < 300 and envelope.get("success") is True:
        return envelope.get("result")
    listed = envelope.get("errors")
    errors = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    codes = tuple(e["code"] for e in errors if isinstance(e.get("code"), int))
    reason = "; ".join(str(e["message"]) for e in errors if e.get("message"))
    # The API may echo what it was sent: never let the token through.
    reason = mask(reason, route.secrets())[:500]
    if not envelope:
        reason = "not Cloudflare's API envelope: check CLOUDFLARE_API_BASE_URL"
    raise CloudflareAPIError(status, codes, reason, _hint(status, codes, log_id, route.url))


def _hint(status: int, codes: tuple[int, ...], log_id: str, logs: str) -> str:
    if status in (401, 403) or 10000 in codes:
        return (
            "check CLOUDFLARE_API_TOKEN: it must be a Cloudflare API token with AI Gateway Read "
            "permission (Edit to give feedback) on this account, not the gateway token"
        )
    if status == 404:
        _, account, _, _, gateway, _ = logs.rsplit("/", 5)  # as in this module's docstring
        return (
            f"no log entry {log_id} in gateway {gateway} of account {account}: check the log id "
            "and CF_AIG_ACCOUNT_ID/CF_AIG_GATEWAY_ID (an entry appears shortly after its request, "
            "and never with logging off)"
        )
    if 300 <= status < 400:
        return "the API redirected, which cfgenai does not follow: check CLOUDFLARE_API_BASE_URL"
    if status == 400:
        return "the API refused the request as invalid; see the reason above"
    return "retry later; Cloudflare's status page tells of outages"


def _feedback_body(feedback: Any, score: Any, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    given = {"feedback": feedback, "score": score, "metadata": metadata}
    body = {name: value for name, value in given.items() if value is not None}
    problems = [] if body else ["feedback(): give feedback, score or metadata (or several)"]
    if feedback is not None and (isinstance(feedback, bool) or feedback not in (-1, 1)):
        problems.append("feedback: must be 1 (good) or -1 (bad)")
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 100
    ):
        problems.append("score: must be a number from 0 to 100")
    if metadata is not None:
        try:
            body["metadata"] = validate_options({"metadata": dict(metadata)}).metadata
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return body


def _log_entry(result: Any) -> LogEntry:
    entry = result if isinstance(result, dict) else {}
    values: dict[str, Any] = {}
    for f in fields(LogEntry):  # each "X | None": the entry's X, or None
        kind = get_args(f.type)[0] if isinstance(f.type, UnionType) else None
        value = entry.get("duration" if f.name == "duration_ms" else f.name)
        value = float(value) if kind is float and type(value) is int else value
        values[f.name] = value if type(value) is kind else None  # JSON's types: a bool is no int
    metadata = entry.get("metadata")  # Cloudflare's: the JSON text of the request's header
    metadata = _parsed(json.loads, metadata) if isinstance(metadata, str) else metadata
    values["metadata"] = metadata if type(metadata) is dict else {}
    values["created_at"] = _parsed(datetime.fromisoformat, entry.get("created_at"))  # 3.11: a Z
    return LogEntry(**values | {"id": str(entry.get("id", "")), "raw": entry})


def _parsed(parse: Callable[[str], T], value: Any) -> T | None:
    """``parse(value)`` for a string ``value``; ``None`` for anything else, or what it refuses."""
    try:
        return parse(value) if isinstance(value, str) else None
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return None
