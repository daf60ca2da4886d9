"""What the gateway answered: its response headers, and the exception for an error answer."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin

from google.genai import errors

from ._google_errors import (
    GatewayClientError,
    GatewayError,
    GatewayServerError,
    GoogleClientError,
    GoogleServerError,
    RedirectError,
    origin,
)

T = TypeVar("T")

NO_WHOLESALE_CODE = 2044
_NO_WHOLESALE_HINT = (
    "the request has no provider credentials and cf-aig-no-wholesale forbids Unified Billing: "
    "store a Google key in the gateway under the alias you use (CF_AIG_BYOK_ALIAS, default "
    "'default'), send your own key (key mode), or unset CF_AIG_NO_WHOLESALE to let "
    "Cloudflare's credits pay"
)

# What to check for each gateway error code (Cloudflare AI Gateway's internal codes).
_HINTS = {
    2001: "check CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID (or CF_AIG_BASE_URL): "
    "no gateway has that id in that account",
    2005: "a cf-aig-* option header was refused: check the CF_AIG_* option variables, "
    "request_options(...) and any header you add yourself",
    2003: "the gateway's rate limit was reached: retry later (CF_AIG_RETRIES retries "
    "client-side) or raise the limit in the gateway's settings",
    2009: "check CF_AIG_TOKEN: the gateway needs a valid AI Gateway token in cf-aig-authorization",
    2040: "check CF_AIG_BYOK_ALIAS (or request_options(byok_alias=...)): no stored key "
    "has that alias",
    7000: "check CF_AIG_BASE_URL and CF_AIG_API_VERSION: the gateway has no route for this URL",
    2016: "the gateway's Guardrails blocked the prompt (a hazard category it is set to block): "
    "rephrase the prompt, or change the categories under Guardrails in the gateway's settings",
    2017: "the gateway's Guardrails blocked the model's response (a hazard category it is set "
    "to block); the provider was called: rephrase the prompt, or change the categories under "
    "Guardrails in the gateway's settings",
    2021: "the gateway's Guardrails scanner is out of credits, so nothing was checked or sent: "
    "add Workers AI credits or billing to the account, or turn Guardrails off",
    7013: "the gateway's Guardrails scanner is unavailable: retry later (CF_AIG_RETRIES retries "
    "503 client-side), or turn Guardrails off in the gateway's settings",
    2029: "the gateway's Data Loss Prevention blocked the request (gateway_info(error).dlp "
    "names the profile): remove the sensitive data from the prompt, or change the DLP policy",
    2030: "the gateway's Data Loss Prevention blocked the model's response (gateway_info(error)"
    ".dlp names the profile); the provider was called: change the prompt, or the DLP policy",
    # The emulator's code for a no-wholesale refusal: Cloudflare documents the 400, not a code.
    NO_WHOLESALE_CODE: _NO_WHOLESALE_HINT,
}
_POLICY_HINT = (
    "a Policy of the gateway denied the request (once a gateway has any policy, it denies "
    "what no policy allows): check the gateway's Policies in the Cloudflare dashboard, or the "
    "identity and metadata this request carries"
)
_RATE_LIMIT_HINTS = {
    "spend": "a spend limit of the gateway is reached; it answers 429 until the limit's window "
    "resets: wait, or raise the limit under Spend limits (or the spend cap in Policies) in the "
    "gateway's settings",
    "unified billing": "Unified Billing's rate limit (200 requests per 60 s per gateway) is "
    "reached: retry later (CF_AIG_RETRIES retries client-side), spread the requests, or store "
    "your own Google key in the gateway (BYOK) so that requests do not use credits",
}
_ANY_429 = (
    "the gateway answered 429: its rate limit, Unified Billing's (200 requests per 60 s) or a "
    "spend limit is reached; retry later (CF_AIG_RETRIES retries client-side), or raise the "
    "rate or spend limit in the gateway's settings"
)

# Cloudflare's own error pages, in front of the gateway: not JSON, so neither the gateway's nor
# Google's. A plain-text "error code: NNNN" (Cloudflare's 1xxx errors), an HTML page of its edge,
# or Cloudflare Access's page when Access guards the URL.
_CLOUDFLARE_CODE_HINTS = {
    1016: "Cloudflare could not resolve the origin's DNS name (origin DNS error): "
    "check CF_AIG_BASE_URL: its host, or the DNS record of the custom domain it names, must "
    "lead to the gateway (https://gateway.ai.cloudflare.com/v1/{account}/{gateway})",
    1015: "a rate limiting rule of the zone in front of the gateway was reached (error 1015): "
    "retry later (CF_AIG_RETRIES retries 429 client-side), or change the rule",
}
_CLOUDFLARE_CODE_HINT = (
    "Cloudflare's edge answered with its own error code, before the gateway: check "
    "CF_AIG_BASE_URL, and look the code up in Cloudflare's 1xxx error reference"
)
_CLOUDFLARE_5XX_HINT = (
    "Cloudflare's edge could not serve the gateway (its HTML error page, a fault on "
    "Cloudflare's side): retry later (CF_AIG_RETRIES retries 502, 503 and 504 client-side), "
    "and see www.cloudflarestatus.com if it lasts"
)
_CLOUDFLARE_4XX_HINT = (
    "Cloudflare's edge refused the request (its HTML error page: a firewall, WAF or rate "
    "limiting rule of the zone): check CF_AIG_BASE_URL and the zone's Security settings"
)
_ACCESS_HINT = (
    "Cloudflare Access guards this URL and refused the request: set CF_AIG_ACCESS_TOKEN to an "
    "Access token, or CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET to a service "
    "token that the Access policy allows"
)
_ERROR_CODE_TEXT = re.compile(rb"\s*error code: (\d{1,6})\s*")
_PAGE_CODE = re.compile(rb'cf-error-code">\s*(\d{1,6})|error code:?\s*(\d{1,6})', re.I)


@dataclass(frozen=True)
class Answered:
    """What an error keeps of the HTTP answer: its status, headers and body, and the
    request's method and URL; never a credential, and it pickles. (The answer's response
    object would keep the request, with the gateway token and the Google key in its
    headers.)"""

    status_code: int
    headers: Mapping[str, str]
    content: bytes = b""
    method: str = ""
    url: str = ""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def answered(status: int, headers: Any, body: bytes, method: Any, url: Any) -> Answered:
    """An :class:`Answered` from any HTTP library's response parts."""
    kept = {str(k).lower(): str(v) for k, v in headers.items()}
    return Answered(status, kept, bytes(body), str(method), str(url))


def error_for(answer: Answered) -> errors.APIError:
    """The exception for an error answer: the gateway's own refusal as a
    :class:`GatewayError`, else Google's, as google-genai would raise it."""
    error = gateway_error(answer.status_code, answer.content, answer)
    if error is not None:
        return error
    try:
        body = answer.json()
    except ValueError:  # google-genai's own stand-in for a body that is not JSON
        body = {"message": answer.text, "status": "HTTP " + str(answer.status_code)}
    kind = GoogleServerError if answer.status_code >= 500 else GoogleClientError
    return kind(answer.status_code, body, answer)


def handshake_error(response: Any, url: str) -> errors.APIError:
    """The exception for a refused WebSocket handshake (websockets' response to ``url``),
    a redirect included."""
    body = bytes(response.body or b"")
    answer = answered(response.status_code, response.headers, body, "GET", url)
    if answer.status_code < 400:
        return redirect_error(answer.status_code, url, answer.headers.get("location"), answer)
    error = error_for(answer)
    if not isinstance(error, GatewayError):
        message = f"the WebSocket handshake was refused with HTTP {answer.status_code}"
        error = type(error)(answer.status_code, {"error": {"message": message}}, answer)
    return error


def redirect_error(status: int, url: str, location: str | None, response: Any) -> RedirectError:
    """The exception for a 3xx answer to a request for ``url``; names hosts, never paths."""
    target = origin(urljoin(url, location)) if location else "nowhere (no Location)"
    return RedirectError(status, origin(url), target, response)


def gateway_error(status: int, body: bytes, response: Any) -> GatewayError | None:
    """The exception for a gateway refusal, or ``None`` when the body is not the gateway's:
    its error shapes (an ``error`` list, newer top-level fields, Policies' ``error`` object),
    a 429 that is not Google's (a rate-limit rule's, whose body is not documented), and
    Cloudflare's own error pages in front of it (see :func:`_cloudflare_page`)."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        parsed = None
        page = _cloudflare_page(body)
        if page is not None:
            return _cloudflare_error(status, response, *page)
    if not _is_gateway_body(parsed):
        if status != 429 or _is_google_body(parsed):
            return None
        parsed = {"success": False, "error": {"message": "Rate limited"}}
    code, reason = _gateway_code_and_reason(parsed)
    kind = GatewayServerError if status >= 500 else GatewayClientError
    return kind(status, parsed, response, code, reason, _gateway_hint(status, code, reason))


def _cloudflare_page(body: bytes) -> tuple[int | None, bool] | None:
    """``(its error code, whether it is Cloudflare Access's)`` for one of Cloudflare's own
    error pages, else ``None``: told by the body alone, since every answer through the gateway,
    Google's included, carries Cloudflare's response headers (``cf-ray``, ``server``)."""
    if (plain := _ERROR_CODE_TEXT.fullmatch(body)) is not None:
        return int(plain[1]), False
    lowered = body[: 256 * 1024].lower()
    if b"<html" not in lowered and b"<!doctype html" not in lowered:
        return None
    if b"cloudflareaccess.com" in lowered or b"cloudflare access" in lowered:
        return None, True
    if b"cloudflare" not in lowered:
        return None
    found = _PAGE_CODE.search(lowered)
    code = int(found[1] or found[2]) if found else None
    return (code if code is not None and code >= 1000 else None), False


def _cloudflare_error(status: int, response: Any, code: int | None, access: bool) -> GatewayError:
    if access:
        hint = _ACCESS_HINT
    elif code is not None:
        hint = _CLOUDFLARE_CODE_HINTS.get(code, _CLOUDFLARE_CODE_HINT)
    else:
        hint = _CLOUDFLARE_5XX_HINT if status >= 500 else _CLOUDFLARE_4XX_HINT
    reason = "Cloudflare Access's page" if access else "its own error page"
    reason += ", not Google's"
    kind = GatewayServerError if status >= 500 else GatewayClientError
    body = {"error": {"message": reason}}
    return kind(status, body, response, code, reason, hint, lead="Cloudflare answered")


def _gateway_hint(status: int, code: int | None, reason: str) -> str:
    lowered = reason.lower()
    if status == 429:
        return next((h for k, h in _RATE_LIMIT_HINTS.items() if k in lowered), _ANY_429)
    if status == 403 and "policy" in lowered:
        return _POLICY_HINT
    if status == 400 and "wholesale" in lowered:  # whatever code the real gateway gives it
        return _NO_WHOLESALE_HINT
    return _HINTS.get(code or 0, "see the gateway's logs in the Cloudflare dashboard")


def _is_gateway_body(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    return body.get("name") == "AiGatewayError" or (
        body.get("success") is False and isinstance(body.get("error"), list | dict)
    )


def _is_google_body(body: Any) -> bool:
    return (
        isinstance(body, dict) and isinstance(body.get("error"), dict) and "status" in body["error"]
    )


def _gateway_code_and_reason(body: Any) -> tuple[int | None, str]:
    error = body.get("error")
    first = error if isinstance(error, dict) else error[0] if error else {}
    code = body.get("internalCode", first.get("code"))
    reason = body.get("message") or first.get("message") or "no message"
    if isinstance(error, dict) and isinstance(error.get("limit"), int | float):
        reason += f": spent {error.get('spent')} of {error['limit']}"
    return (code if isinstance(code, int) else None), str(reason)


@dataclass(frozen=True)
class DlpFinding:
    """One Data Loss Prevention match: which check (``"REQUEST"`` or ``"RESPONSE"``), which
    profile and entries, under which policies."""

    check: str | None
    profile_id: str | None
    entry_ids: tuple[str, ...] = ()
    policy_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DlpInfo:
    """The gateway's ``cf-aig-dlp`` header: ``action`` (``"FLAG"`` or ``"BLOCK"``) and
    the findings."""

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
    headers = _headers_of(response)
    get = {str(k).lower(): str(v) for k, v in headers.items()}.get
    step = get("cf-aig-step")
    return GatewayInfo(
        cache_status=get("cf-aig-cache-status"),
        log_id=get("cf-aig-log-id"),
        event_id=get("cf-aig-event-id"),
        step=int(step) if step and step.isdigit() else None,
        model=get("cf-aig-model"),
        provider=get("cf-aig-provider"),
        request_id=get("cf-aig-request-id"),
        dlp=parse_dlp(get("cf-aig-dlp")),
    )


def parse_dlp(header: str | None) -> DlpInfo | None:
    """The ``cf-aig-dlp`` header as a ``DlpInfo``; ``None`` when absent or not JSON, and
    whatever is malformed inside left out: never an exception."""
    try:
        value = json.loads(header) if header else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    return DlpInfo(
        action=_str_or_none(value.get("action")),
        findings=tuple(_finding(f) for f in _list_of(value.get("findings"), dict)),
    )


def _finding(finding: dict[str, Any]) -> DlpFinding:
    profile = finding.get("profile")
    profile = profile if isinstance(profile, dict) else {}
    return DlpFinding(
        check=_str_or_none(finding.get("check")),
        profile_id=_str_or_none(profile.get("profile_id")),
        entry_ids=_list_of(profile.get("entry_ids"), str),
        policy_ids=_list_of(finding.get("policy_ids"), str),
    )


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list_of(value: Any, kind: type[T]) -> tuple[T, ...]:
    return tuple(v for v in value if isinstance(v, kind)) if isinstance(value, list) else ()


def _headers_of(response: Any) -> Mapping[str, Any]:
    if isinstance(response, Mapping):
        return response
    sdk_response = getattr(response, "sdk_http_response", None)
    if sdk_response is not None:
        headers: Mapping[str, Any] = sdk_response.headers or {}
        return headers
    http_response = getattr(response, "response", None)  # an APIError
    if getattr(http_response, "headers", None) is not None:
        return dict(http_response.headers)  # type: ignore[union-attr]
    raise TypeError(
        "gateway_info() takes a google-genai response, an APIError or a mapping of headers, "
        f"not {type(response).__name__}"
    )


GatewayInfo.__module__ = gateway_info.__module__ = "cfgenai"
DlpInfo.__module__ = DlpFinding.__module__ = "cfgenai.types"
