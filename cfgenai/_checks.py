"""Checks of single values, shared by the settings' validators.

Each returns the cleaned value or raises ``ValueError`` with the fix; none ever repeats
the value, which may be a secret pasted into the wrong place.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

CLOUDFLARE_HOST = "gateway.ai.cloudflare.com"
PROVIDER = "google-ai-studio"
VERTEX = "google-vertex-ai"
COMPAT = "compat"

HEADER_UNSAFE = re.compile(r"[^\x20-\x7e]")
_HEX_ACCOUNT = re.compile(r"[0-9a-fA-F]{32}")
_GATEWAY = re.compile(r"[a-z0-9-]{1,64}")
_PLACEHOLDER_IN_URL = re.compile(r"[{}<>]")
# Values people leave in templates. A real token or key is never one of these.
_PLACEHOLDER = re.compile(
    r"[.\u2026*xX_-]*|<.*>|\{.*\}|\$\{.*\}|\$[A-Za-z_]\w*|"
    r"(?:change|replace)[-_ ]?me|placeholder|todo|tbd|none|null|undefined|"
    r"secret|token|key|api[-_ ]?key|your[-_ ].*",
    re.IGNORECASE,
)


def string(value: Any) -> str | None:
    """``value`` stripped, or None; anything but text is refused."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or isinstance(value, str):
        return value.strip() if value is not None else None
    raise ValueError(f"must be a string, not {type(value).__name__}")


def optional_string(value: Any) -> str | None:
    """Like :func:`string`, with a blank value meaning unset."""
    return string(value) or None


def describe(value: str, allowed: str, letters: str = "letters") -> str:
    """What in ``value`` is not ``allowed`` (a one-character regex), by length and kind of
    character only: quoting characters would show part of a token pasted in the wrong place."""
    kinds = sorted({_kind(c, letters) for c in value if not re.fullmatch(allowed, c)})
    facts = f"it has {len(value)} characters"
    if kinds:
        facts += ", including " + ", ".join(kinds)
    return f" ({facts})"


def _kind(c: str, letters: str) -> str:
    if c == " ":
        return "spaces"
    if not c.isascii():
        return "non-ASCII characters"
    if not c.isprintable():
        return "control characters"
    if c.isdigit():
        return "digits"
    if c.isalpha():
        return f"uppercase {letters}" if c.isupper() else f"lowercase {letters}"
    return "punctuation"


def secret(raw: Any, *, bearer: bool) -> str | None:
    """A credential sent in a header; ``bearer`` when cfgenai adds the ``Bearer`` scheme."""
    value = optional_string(raw)
    if value is None:
        return None
    if HEADER_UNSAFE.search(value):
        raise ValueError(
            "contains a line break, control character or non-ASCII character, which "
            "cannot be sent in an HTTP header; copy the value again without them"
        )
    if bearer and value[:7].lower() == "bearer ":
        raise ValueError("starts with 'Bearer ': set the token alone; cfgenai adds Bearer")
    if _PLACEHOLDER.fullmatch(value):
        raise ValueError(
            "is a placeholder, not a credential: set the real value, or unset the variable"
        )
    return value


def path_segment(raw: Any) -> str | None:
    """A name that goes into the URL path as one segment."""
    value = optional_string(raw)
    if value is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,128}", value):
        raise ValueError(
            "may hold only letters, digits, '.', ':', '_' and '-'"
            + describe(value, r"[A-Za-z0-9.:_-]")
        )
    if value in (".", ".."):
        raise ValueError("must be a name, not '.' or '..' (which would change the request path)")
    return value


def base_url_problems(url: str) -> list[str]:
    """Why ``url`` cannot be a gateway root, each with its fix."""
    example = "https://ai.example.com or http://127.0.0.1:6787/v1/ACCOUNT/GATEWAY"
    unusable = unusable_url(url, example)
    if unusable:
        return [unusable]
    problems = url_problems(url, example, "put the gateway token in CF_AIG_TOKEN")
    parts = urlsplit(url)
    host = parts.hostname
    segments = parts.path.split("/")
    placeholder = bool(_PLACEHOLDER_IN_URL.search(url))
    if placeholder:
        problems.append(
            "holds an unfilled placeholder ({...} or <...>): put your account id and gateway "
            "id in its place"
        )
    provider = next((s for s in segments if s in (PROVIDER, VERTEX, COMPAT)), None)
    if provider is not None:
        segments = segments[: segments.index(provider)]
        problems.append(
            f"must be the gateway root: cut it before /{provider} (cfgenai appends the "
            "provider and the model path)"
        )
    if host == CLOUDFLARE_HOST and not placeholder:
        fault = _cloudflare_path_fault([s for s in segments if s])
        if fault:
            problems.append(
                f"a {CLOUDFLARE_HOST} URL must be https://{CLOUDFLARE_HOST}/v1/ACCOUNT_ID/"
                f"GATEWAY_ID, but {fault}; fix it, or unset CF_AIG_BASE_URL and set "
                "CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID"
            )
    return problems


def unusable_url(url: str, example: str) -> str | None:
    """Why ``url`` is no absolute http(s) URL at all, or None."""
    if HEADER_UNSAFE.search(url) or " " in url:
        return "must not contain spaces, line breaks or non-ASCII characters"
    parts = urlsplit(url)
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        return "has an invalid port"
    if parts.scheme not in ("http", "https") or not host:
        return f"must be an absolute URL such as {example}"
    return None


def url_problems(url: str, example: str, credentials: str) -> list[str]:
    """Why ``url`` cannot be the root of an HTTP API cfgenai sends credentials to."""
    unusable = unusable_url(url, example)
    if unusable:
        return [unusable]
    parts = urlsplit(url)
    host = parts.hostname or ""
    problems = []
    if parts.scheme == "http" and not is_loopback(host):
        problems.append("must use https:// (plain http is only allowed for loopback hosts)")
    if "@" in parts.netloc:
        problems.append(f"must not contain credentials; {credentials}")
    if "?" in url or "#" in url:
        problems.append("must not have a query (?) or fragment (#)")
    segments = parts.path.split("/")
    if ".." in segments or "%" in parts.path:
        problems.append("must not contain '..' segments or percent-escapes in its path")
    return problems


def _cloudflare_path_fault(segments: list[str]) -> str | None:
    if not segments:
        return "it has no path"
    if segments[0] != "v1":
        return "its path does not start with /v1/"
    if len(segments) == 2:
        return "it names no gateway"
    if len(segments) != 3:
        return "its path has more or fewer parts than /v1/ACCOUNT_ID/GATEWAY_ID"
    if not _HEX_ACCOUNT.fullmatch(segments[1]):
        return "its account id is not 32 hexadecimal characters"
    if not _GATEWAY.fullmatch(segments[2]):
        return "its gateway id is not 1 to 64 lowercase letters, digits and hyphens"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def number(value: Any, kind: type[float] | type[int]) -> Any:
    """``value`` as a ``kind``, or None when it is not one (text is parsed, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        parsed = kind(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return parsed if kind is float or parsed == value or isinstance(value, str) else None
