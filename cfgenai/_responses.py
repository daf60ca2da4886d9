"""What the gateway answered: its response headers, and its own refusals as exceptions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from google.genai import errors

# What to check for each gateway error code (Cloudflare AI Gateway's internal codes).
_HINTS = {
    2001: "check CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID (or CF_AIG_BASE_URL): "
    "no gateway has that id in that account",
    2003: "the gateway's rate limit was reached: retry later (CF_AIG_RETRIES retries "
    "client-side) or raise the limit in the gateway's settings",
    2009: "check CF_AIG_TOKEN: the gateway needs a valid AI Gateway token in cf-aig-authorization",
    2040: "check CF_AIG_BYOK_ALIAS (or request_options(byok_alias=...)): no stored key "
    "has that alias",
    7000: "check CF_AIG_BASE_URL and CF_AIG_API_VERSION: the gateway has no route for this URL",
}


class GatewayError(errors.APIError):
    """Cloudflare AI Gateway itself refused the request; Google never saw it.

    Still a google-genai ``APIError`` (and ``ClientError`` or ``ServerError`` by status),
    with ``gateway_code`` (e.g. 2009) and ``hint`` naming the setting to check.
    """

    gateway_code: int | None
    hint: str

    def __init__(self, code: int, response_json: Any, response: Any = None) -> None:
        super().__init__(code, response_json, response)
        self.gateway_code, reason = _gateway_code_and_reason(response_json)
        self.hint = _HINTS.get(
            self.gateway_code or 0, "see the gateway's logs in the Cloudflare dashboard"
        )
        self.message = (
            f"Cloudflare AI Gateway refused the request with code {self.gateway_code} "
            f"({reason}): {self.hint}"
        )
        Exception.__init__(self, f"{self.code} {self.message}")


class GatewayClientError(GatewayError, errors.ClientError):
    pass


class GatewayServerError(GatewayError, errors.ServerError):
    pass


class RedirectError(errors.APIError):
    """The gateway's URL answered with a redirect, which cfgenai never follows.

    Following it would resend the gateway token and the Google key to wherever it points.
    A google-genai ``APIError`` whose ``code`` is the 3xx status.
    """

    def __init__(self, code: int, origin: str, target: str, response: Any = None) -> None:
        message = (
            f"{origin} answered with a redirect to {target}; cfgenai does not follow "
            "redirects, so nothing was sent there: check CF_AIG_BASE_URL (it must be the "
            "gateway's own URL)"
        )
        super().__init__(code, {"error": {"message": message}}, response)
        Exception.__init__(self, f"{code} {message}")


def redirect_error(status: int, url: str, location: str | None, response: Any) -> RedirectError:
    """The exception for a 3xx answer to a request for ``url``; names hosts, never paths."""
    return RedirectError(
        status,
        _origin(url),
        _origin(urljoin(url, location)) if location else "nowhere (no Location)",
        response,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host  # IPv6
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def gateway_error(status: int, body: bytes, response: Any) -> GatewayError | None:
    """The exception for a gateway refusal, or ``None`` when the body is not the gateway's."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if not _is_gateway_body(parsed):
        return None
    kind = GatewayServerError if status >= 500 else GatewayClientError
    return kind(status, parsed, response)


def _is_gateway_body(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    return body.get("name") == "AiGatewayError" or (
        body.get("success") is False and isinstance(body.get("error"), list)
    )


def _gateway_code_and_reason(body: Any) -> tuple[int | None, str]:
    first = body["error"][0] if isinstance(body.get("error"), list) and body["error"] else {}
    code = body.get("internalCode", first.get("code"))
    reason = body.get("message") or first.get("message") or "no message"
    return (code if isinstance(code, int) else None), str(reason)


@dataclass(frozen=True)
class GatewayInfo:
    """The gateway's response headers; ``None`` where the gateway sent none."""

    cache_status: str | None
    log_id: str | None
    event_id: str | None
    step: int | None
    model: str | None
    provider: str | None


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
    )


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
