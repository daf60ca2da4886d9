"""cfgenai's exceptions that are google-genai's ``APIError`` (or google-auth's
``RefreshError``); ``cfgenai._errors`` draws them among the others."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
from google.genai import errors

from ._errors import publish


class _Picklable(errors.APIError):
    """Pickled class and all (some google-genai releases unpickle theirs as a plain ``APIError``,
    or not at all); given a ``message``, ``str()`` is the code and it, not the body rendered."""

    def __init__(self, code: int, body: Any, response: Any = None, message: str = "") -> None:
        super().__init__(code, {"error": {"message": message}} if body is None else body, response)
        if message:
            self.message = message
            Exception.__init__(self, f"{code} {message}")

    def __reduce__(self) -> Any:
        return Exception.__new__, (type(self), str(self)), self.__dict__.copy()


class GoogleClientError(_Picklable, errors.ClientError):
    """Google's 4xx, passed on by the gateway: google-genai's ``ClientError``."""


class GoogleServerError(_Picklable, errors.ServerError):
    """Google's 5xx, passed on by the gateway: google-genai's ``ServerError``."""


class GatewayError(_Picklable):
    """The gateway (or Cloudflare's error page in front of it) refused; Google never saw the
    request. A ``ClientError`` or ``ServerError`` by status, with ``gateway_code`` and ``hint``."""

    def __init__(
        self,
        code: int,
        body: Any,
        response: Any,
        gateway_code: int | None,
        reason: str,
        hint: str,
        *,
        lead: str = "Cloudflare AI Gateway refused the request",
    ) -> None:
        self.gateway_code, self.hint = gateway_code, hint
        with_code = "" if gateway_code is None else f" with code {gateway_code}"
        super().__init__(code, body, response, f"{lead}{with_code} ({reason}): {hint}")


class GatewayClientError(GatewayError, errors.ClientError):
    """The gateway's refusal with a 4xx status."""


class GatewayServerError(GatewayError, errors.ServerError):
    """The gateway's refusal with a 5xx status."""


class RedirectError(_Picklable):
    """The gateway's URL answered with a redirect, which cfgenai never follows (it would resend
    the credentials there): an ``APIError`` whose ``code`` is the 3xx status."""

    def __init__(self, code: int, origin: str, target: str, response: Any = None) -> None:
        message = (
            f"{origin} answered with a redirect to {target}; cfgenai does not follow redirects, "
            "so nothing was sent there: check CF_AIG_BASE_URL (it must be the gateway's own URL)"
        )
        super().__init__(code, None, response, message)


class OffGatewayError(_Picklable):
    """A request was about to leave the configured gateway (a URL taken from an answer, a path
    outside the gateway's prefix); nothing was sent. An ``APIError`` with ``code`` 421."""

    def __init__(self, url: str, why: str) -> None:
        message = (
            f"cfgenai refused to send a request to {origin(url)}: {why}; nothing was sent: check "
            "CF_AIG_BASE_URL, and the URLs and model names your code passes"
        )
        body = {"error": {"message": message, "status": "MISDIRECTED"}}
        super().__init__(421, body, None, message)


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what an error may name, never a path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host  # IPv6
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class TokenRefreshError(google.auth.exceptions.RefreshError):
    """Google's token endpoint could not give an access token for Vertex AI. Its message names
    the endpoint's host and google-auth's reason, never a key, a refresh token or a token."""

    def __init__(self, message: str) -> None:
        super().__init__(message)  # type: ignore[no-untyped-call]


publish(globals())
