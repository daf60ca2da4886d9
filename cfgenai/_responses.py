"""What the gateway answered: its response headers, and the exception for an error answer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urljoin

from google.genai import errors

from ._compat import httpx_module
from ._google_errors import (
    GatewayClientError,
    GatewayServerError,
    GoogleClientError,
    GoogleServerError,
    RedirectError,
    origin,
)

# The fix, by the gateway's error code or the kind of answer; docs/errors.md quotes each.
HINTS: dict[int | str, str] = {
    2001: "no such gateway: check CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID (or CF_AIG_BASE_URL)",
    2005: "a cf-aig-* header was refused: check the CF_AIG_* options and request_options(...)",
    2009: "check CF_AIG_TOKEN: the gateway needs a valid AI Gateway token in cf-aig-authorization",
    2016: "Guardrails blocked the prompt: rephrase it, or change Guardrails' blocked categories",
    2017: "the gateway's Guardrails blocked the model's response (the provider was called): "
    "rephrase the prompt, or change the blocked categories",
    2021: "Guardrails is out of credits (nothing sent): add Workers AI credits, or turn it off",
    2029: "the gateway's Data Loss Prevention blocked the request (gateway_info(error).dlp "
    "names the profile): remove the sensitive data, or change the DLP policy",
    2030: "the gateway's Data Loss Prevention blocked the model's response (the provider was "
    "called): change the prompt, or the DLP policy",
    2040: "no BYOK key has that alias: check CF_AIG_BYOK_ALIAS or request_options(byok_alias=...)",
    7000: "check CF_AIG_BASE_URL and CF_AIG_API_VERSION: the gateway has no route for this URL",
    7013: "Guardrails is unavailable: retry later (CF_AIG_RETRIES retries 503), or turn it off",
    "policy": "a Policy of the gateway denied the request: check the gateway's Policies, or the "
    "identity and metadata the request carries",
    "spend": "a spend limit of the gateway is reached: wait for its window to reset, or raise "
    "it under Spend limits in the gateway's settings",
    "unified billing": "Unified Billing's rate limit (200 requests per 60 s per gateway) is "
    "reached: retry later, or store your own Google key in the gateway (BYOK)",
    "429": "the gateway answered 429: its rate limit, Unified Billing's (200 requests per 60 s) "
    "or a spend limit is reached: retry later (CF_AIG_RETRIES retries client-side), or raise it",
    "wholesale": "no provider credentials, and CF_AIG_NO_WHOLESALE forbids Unified Billing: "
    "store a Google key in the gateway under CF_AIG_BYOK_ALIAS, or unset CF_AIG_NO_WHOLESALE",
    "error code 1016": "origin DNS error: the host of CF_AIG_BASE_URL does not resolve; check it",
    "error code 1015": "the zone's rate limiting rule was reached: retry later, or change the rule",
    "error code": "Cloudflare's edge answered before the gateway: check CF_AIG_BASE_URL, and "
    "the code in Cloudflare's 1xxx error reference",
    "5xx page": "Cloudflare could not serve the gateway: retry later; see www.cloudflarestatus.com",
    "4xx page": "Cloudflare's edge refused the request (a firewall or rate limiting rule of "
    "the zone): check CF_AIG_BASE_URL and the zone's Security settings",
    "access": "Cloudflare Access refused the request: set CF_AIG_ACCESS_TOKEN, or "
    "CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET, to credentials its policy allows",
}
# The codes on Cloudflare's own error pages: plain "error code: NNNN" (its 1xxx errors), or HTML.
_ERROR_CODE_TEXT = re.compile(rb"\s*error code: (\d{1,6})\s*")
_PAGE_CODE = re.compile(rb'(?:cf-error-code">|error code:?)\s*(\d{1,6})', re.I)


def answered(status: int, headers: Any, body: bytes, method: Any, url: Any) -> Any:
    """An httpx response from any library's parts, for an error: its request carries no headers."""
    httpx = httpx_module()
    # The body is decoded already: httpx must not decode it again.
    kept = [(k, v) for k, v in headers.items() if str(k).lower() != "content-encoding"]
    request = httpx.Request(str(method), str(url))
    return httpx.Response(status, headers=kept, content=bytes(body), request=request)


def handshake_error(response: Any, url: str) -> errors.APIError:
    """The exception for a refused WebSocket handshake (websockets' response to ``url``)."""
    answer = answered(response.status_code, response.headers, response.body or b"", "GET", url)
    error = error_for(answer)
    if isinstance(error, GoogleClientError | GoogleServerError):  # the body is no API's
        return type(error)(answer.status_code, None, answer, "the WebSocket handshake was refused")
    return error


def error_for(answer: Any) -> errors.APIError:
    """The exception for a 3xx or an error answer: a ``RedirectError``, a ``GatewayError``
    for the gateway's refusals (its shapes, a 429 not Google's, Cloudflare's pages), or Google's."""
    status, url = answer.status_code, str(answer.url)
    if status < 400:  # names hosts, never paths
        location = answer.headers.get("location")
        target = origin(urljoin(url, location)) if location else "nowhere (no Location)"
        return RedirectError(status, origin(url), target, answer)
    kind = GatewayServerError if status >= 500 else GatewayClientError
    try:
        parsed = json.loads(answer.content)
    except (ValueError, RecursionError):
        if (page := _cloudflare_page(status, answer.content)) is not None:
            shown = {"error": {"message": page[1]}}  # its reason
            return kind(status, shown, answer, *page, lead="Cloudflare answered")
        parsed = {"message": answer.text, "status": f"HTTP {status}"}  # google-genai's stand-in
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(parsed, dict) or not (
        parsed.get("name") == "AiGatewayError"
        or (parsed.get("success") is False and isinstance(error, list | dict))
    ):
        if status != 429 or (isinstance(error, dict) and "status" in error):  # Google's
            google = GoogleServerError if status >= 500 else GoogleClientError
            return google(status, parsed, answer)
        error = {"message": "Rate limited"}  # a rate-limit rule's 429: its body is undocumented
        parsed = {"success": False, "error": error}
    first = error[0] if isinstance(error, list) and error else error  # the body may be any JSON
    first = first if isinstance(first, dict) else {}
    code = parsed.get("internalCode", first.get("code"))
    code = code if type(code) is int else None  # JSON's types: a bool is no int
    reason = str(parsed.get("message") or first.get("message") or "no message")
    if isinstance(error, dict) and isinstance(error.get("limit"), int | float):
        reason += f": spent {error.get('spent')} of {error['limit']}"
    return kind(status, parsed, answer, code, reason, _gateway_hint(status, code, reason))


def _cloudflare_page(status: int, body: bytes) -> tuple[int | None, str, str] | None:
    """``(code, reason, hint)`` for Cloudflare's own error page (told by its body), else None."""
    lowered = body[: 256 * 1024].lower()
    if (plain := _ERROR_CODE_TEXT.fullmatch(body)) is not None:
        code: int | None = int(plain[1])
    elif b"cloudflare" not in lowered or not re.search(rb"<html|<!doctype html", lowered):
        return None
    elif b"cloudflareaccess.com" in lowered or b"cloudflare access" in lowered:
        return None, "Cloudflare Access's page, not Google's", HINTS["access"]
    else:  # its HTML page: the code it shows, if any (1xxx, not an HTTP status)
        found = _PAGE_CODE.search(lowered)
        code = int(found[1]) if found and int(found[1]) >= 1000 else None
    page = HINTS["5xx page" if status >= 500 else "4xx page"]
    hint = page if code is None else HINTS.get(f"error code {code}", HINTS["error code"])
    return code, "its own error page, not Google's", hint


def _gateway_hint(status: int, code: int | None, reason: str) -> str:
    lowered = reason.lower()
    if status == 429:
        return next((HINTS[k] for k in ("spend", "unified billing") if k in lowered), HINTS["429"])
    if status == 403 and "policy" in lowered:
        return HINTS["policy"]
    if status == 400 and "wholesale" in lowered:  # Cloudflare documents the 400, not its code
        return HINTS["wholesale"]
    return HINTS.get(code or 0, "see the gateway's logs in the Cloudflare dashboard")


@dataclass(frozen=True)
class DlpFinding:
    """One Data Loss Prevention finding: its check (REQUEST or RESPONSE), profile and ids."""

    check: str | None
    profile_id: str | None
    entry_ids: tuple[str, ...] = ()
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DlpInfo:
    """The gateway's ``cf-aig-dlp`` header: ``action`` (``FLAG`` or ``BLOCK``) and findings."""

    action: str | None
    findings: tuple[DlpFinding, ...] = ()


@dataclass(frozen=True)
class GatewayInfo:
    """The gateway's response headers; ``None`` where the gateway sent none."""

    cache_status: str | None
    log_id: str | None
    event_id: str | None
    step: int | None
    model: str | None
    provider: str | None
    request_id: str | None = None
    dlp: DlpInfo | None = None


def gateway_info(response: Any) -> GatewayInfo:
    """What the gateway said about ``response``: a google-genai response (or one streamed
    chunk; the first carries the headers), an ``APIError``, or a mapping of headers."""
    if isinstance(response, Mapping):
        headers = response
    elif (sdk_response := getattr(response, "sdk_http_response", None)) is not None:
        headers = sdk_response.headers or {}
    elif (kept := getattr(getattr(response, "response", None), "headers", None)) is not None:
        headers = kept  # an APIError's answer
    else:
        kinds = "a google-genai response, an APIError or a mapping of headers"
        raise TypeError(f"gateway_info() takes {kinds}, not {type(response).__name__}")
    lowered: dict[str, Any] = {str(k).lower(): str(v) for k, v in headers.items()}
    found = {f.name: lowered.get(f"cf-aig-{f.name}".replace("_", "-")) for f in fields(GatewayInfo)}
    found["step"] = int(step) if (step := found["step"]) and step.isdecimal() else None
    return GatewayInfo(**found | {"dlp": parse_dlp(found["dlp"])})


def parse_dlp(header: str | None) -> DlpInfo | None:
    """``header`` (``cf-aig-dlp``) as a ``DlpInfo``, None if not JSON; malformed parts left out."""
    try:
        value = json.loads(header) if header else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    findings = []
    for found in _kept(value.get("findings"), dict):
        profile = found.get("profile") if isinstance(found.get("profile"), dict) else {}
        ids = _kept(profile.get("entry_ids"), str), _kept(found.get("policy_ids"), str)
        check, profile_id = _text(found.get("check")), _text(profile.get("profile_id"))
        findings.append(DlpFinding(check, profile_id, *ids))
    return DlpInfo(_text(value.get("action")), tuple(findings))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _kept(value: Any, kind: type) -> tuple[Any, ...]:
    return tuple(v for v in value if isinstance(v, kind)) if isinstance(value, list) else ()


GatewayInfo.__module__ = gateway_info.__module__ = "cfgenai"
DlpInfo.__module__ = DlpFinding.__module__ = "cfgenai.types"
