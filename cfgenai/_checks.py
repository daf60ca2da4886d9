"""Rules for single values, as pydantic types: a refusal says the fix, never the value."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import math
import re
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from annotated_types import Predicate
from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, Strict

CLOUDFLARE_HOST = "gateway.ai.cloudflare.com"
PROVIDER = "google-ai-studio"
VERTEX = "google-vertex-ai"
COMPAT = "compat"
KEY_HEADER = "x-goog-api-key"  # google-genai's header for a Gemini API key

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 24 * 3600.0
DEFAULT_RETRIES = 2
MAX_CACHE_TTL = 30 * 24 * 3600  # the gateway caches for at most one month
MAX_METADATA_ENTRIES = 5
COST_FIELDS = ("per_token_in", "per_token_out", "per_cache_read_token", "per_cache_write_token")

HEADER_UNSAFE = re.compile(r"[^\x20-\x7e]")
ACCOUNT_ID = re.compile(r"[0-9a-fA-F]{32}")
GATEWAY_ID = re.compile(r"[a-z0-9-]{1,64}")
SEGMENT = re.compile(r"[A-Za-z0-9.:_-]{1,128}")
# Values people leave in templates. A real token or key is never one of these.
_PLACEHOLDER = re.compile(
    r"[.\u2026*xX_-]*|<.*>|\{.*\}|\$\{.*\}|\$[A-Za-z_]\w*|"
    r"(?:change|replace)[-_ ]?me|placeholder|todo|tbd|none|null|undefined|"
    r"secret|token|key|api[-_ ]?key|your[-_ ].*",
    re.IGNORECASE,
)
_FLAGS = {"true": True, "1": True, "false": False, "0": False}

# Blank text is unset, as in the environment.
_BLANK_IS_NONE = BeforeValidator(lambda v: None if isinstance(v, str) and not v.strip() else v)
_LOWER = BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool | bytes):  # pydantic would read True as 1, b"30" as 30
        raise ValueError("not a number")  # FIXES says what it must be
    return value


_NO_BOOL = BeforeValidator(_no_bool)
_ACCOUNT_FIX = "must be the 32-character hexadecimal account id shown in the Cloudflare dashboard"
_GATEWAY_FIX = "must be the gateway's id: 1 to 64 lowercase letters, digits and hyphens"
_SEGMENT_FIX = "may hold only letters, digits, '.', ':', '_' and '-'"


def characters(
    rule: re.Pattern[str], fix: str, letters: str = "letters", *, an_id: bool = False
) -> AfterValidator:
    """A check that a value matches ``rule``, else ``fix``, its length and the kinds of wrong
    character (never the characters: a token may be pasted here); ``an_id``: a URL gets its own."""
    allowed = re.compile(rule.pattern.partition("]")[0] + "]")

    def check(value: str | None) -> str | None:
        if value is None or rule.fullmatch(value):
            return value
        if an_id and "/" in value:  # a gateway URL, pasted whole
            raise ValueError(
                f"{fix}, not a URL: keep only the id (/v1/ACCOUNT_ID/GATEWAY_ID in a gateway URL), "
                "or unset it and set CF_AIG_BASE_URL"
            )
        kinds = sorted({_kind(c, letters) for c in value if not allowed.fullmatch(c)})
        including = ", including " + ", ".join(kinds) if kinds else ""
        raise ValueError(f"{fix} (it has {len(value)} characters{including})")

    return AfterValidator(check)


def _kind(c: str, letters: str) -> str:
    kinds = {
        "spaces": c == " ",
        "non-ASCII characters": not c.isascii(),
        "control characters": not c.isprintable(),
        "digits": c.isdigit(),
        f"uppercase {letters}": c.isupper(),
        f"lowercase {letters}": c.isalpha(),
    }
    return next((kind for kind, hit in kinds.items() if hit), "punctuation")


def secret(value: Any, *, bearer: bool) -> Any:
    """A credential for a header, stripped (blank: None); ``bearer``: cfgenai adds ``Bearer``."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value
    if not (value := value.strip()):
        return None
    if HEADER_UNSAFE.search(value):
        raise ValueError(
            "contains a line break, control character or non-ASCII character, which "
            "cannot be sent in an HTTP header; copy the value again without them"
        )
    if bearer and value[:7].lower() == "bearer ":
        raise ValueError("starts with 'Bearer ': set the token alone; cfgenai adds Bearer")
    if _PLACEHOLDER.fullmatch(value):
        raise ValueError("is a placeholder, not a credential: set the real value or unset it")
    return value


def _not_dots(value: str | None) -> str | None:
    if value in (".", ".."):
        raise ValueError("must be a name, not '.' or '..' (which would change the request path)")
    return value


def google_credentials(value: Any) -> Any:
    """``adc``, a credentials file's path or ``google.auth`` credentials (checked when loaded)."""
    if value is None or isinstance(value, str):
        value = (value or "").strip()
        return "adc" if value.lower() == "adc" else value or None
    from google.auth.credentials import Credentials  # only for an object handed over

    if not isinstance(value, Credentials):
        raise ValueError("must be adc, a credentials JSON file's path, or google.auth credentials")
    return value


def _json_object(value: Any, example: str) -> dict[str, Any]:
    """A JSON object, from its text or as a dict with text keys."""
    with contextlib.suppress(ValueError, RecursionError):  # RecursionError: nested too deeply
        value = json.loads(value) if isinstance(value, str) else value
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return value
    raise ValueError(f"must be {example}")


def metadata(value: Any) -> dict[str, Any]:
    entries = _json_object(value, 'a JSON object such as {"team":"search","user":42}')
    if len(entries) > MAX_METADATA_ENTRIES:
        raise ValueError(
            f"has {len(entries)} entries; the gateway keeps at most {MAX_METADATA_ENTRIES}"
        )
    for key, item in entries.items():
        if key.startswith("cf."):
            raise ValueError(f"key {key!r}: keys starting with 'cf.' are reserved by Cloudflare")
        if not isinstance(item, str | int | float) or (
            isinstance(item, float) and not math.isfinite(item)
        ):
            raise ValueError(f"key {key!r}: values must be strings, numbers or booleans")
    return entries


def custom_cost(value: Any) -> dict[str, Any]:
    costs = _json_object(value, 'a JSON object such as {"per_token_in":0.000001}')
    if not costs or not set(costs) <= set(COST_FIELDS):
        raise ValueError(f"takes only the fields {', '.join(COST_FIELDS)}")
    for key, cost in costs.items():
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost < math.inf:
            raise ValueError(f"{key} must be a number of at least 0")
    return costs


# -- URLs ------------------------------------------------------------------------------------------
def _root_url(url: str, example: str, credentials: str, gateway: bool = False) -> str:
    """``url``, the root of an API (a gateway's: ``gateway``), scheme and host in lowercase (as
    senders compare them); else a ``ValueError`` with every reason."""
    if HEADER_UNSAFE.search(url) or " " in url:
        raise ValueError("must not contain spaces, line breaks or non-ASCII characters")
    parts = urlsplit(url)
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise ValueError("has an invalid port") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"must be an absolute URL such as {example}")
    problems = []
    if parts.scheme == "http" and not is_loopback(host):
        problems.append("must use https:// (plain http is only allowed for loopback hosts)")
    if "@" in parts.netloc:
        problems.append(f"must not contain credentials; put {credentials}")
    if "?" in url or "#" in url:
        problems.append("must not have a query (?) or fragment (#)")
    if ".." in parts.path.split("/") or "%" in parts.path:
        problems.append("must not contain '..' segments or percent-escapes in its path")
    if problems := problems + (_gateway_root_problems(url) if gateway else []):
        raise ValueError("; ".join(problems))
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path}".rstrip("/")


def _base_url(url: str) -> str:
    example = "https://ai.example.com or http://127.0.0.1:6787/v1/ACCOUNT/GATEWAY"
    return _root_url(url, example, "the gateway token in CF_AIG_TOKEN", gateway=True)


def _api_base_url(url: str) -> str:
    example = "https://api.cloudflare.com/client/v4 or http://127.0.0.1:6787/client/v4"
    return _root_url(url, example, "the API token in CLOUDFLARE_API_TOKEN")


def _gateway_root_problems(url: str) -> list[str]:
    segments, problems = urlsplit(url).path.split("/"), []
    if placeholder := bool(re.search(r"[{}<>]", url)):
        problems.append(
            "holds an unfilled placeholder ({...} or <...>): put your account and gateway ids there"
        )
    provider = next((s for s in segments if s in (PROVIDER, VERTEX, COMPAT)), None)
    if provider is not None:
        segments = segments[: segments.index(provider)]
        problems.append(
            f"must be the gateway root: cut it before /{provider} (cfgenai appends the "
            "provider and the model path)"
        )
    fault = _cloudflare_path_fault([s for s in segments if s])
    if urlsplit(url).hostname == CLOUDFLARE_HOST and not placeholder and fault:
        problems.append(
            f"a {CLOUDFLARE_HOST} URL must be https://{CLOUDFLARE_HOST}/v1/ACCOUNT_ID/"
            f"GATEWAY_ID, but {fault}; fix it, or unset CF_AIG_BASE_URL and set "
            "CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID"
        )
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
    if not ACCOUNT_ID.fullmatch(segments[1]):
        return "its account id is not 32 hexadecimal characters"
    if not GATEWAY_ID.fullmatch(segments[2]):
        return "its gateway id is not 1 to 64 lowercase letters, digits and hyphens"
    return None


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine: no proxy may see what is sent there."""
    return is_loopback(urlsplit(url).hostname or "")


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the settings' values -----------------------------------------------------------------------
_Text = Annotated[str | None, Strict(), _BLANK_IS_NONE]
AccountId = Annotated[_Text, characters(ACCOUNT_ID, _ACCOUNT_FIX, "letters after f", an_id=True)]
GatewayId = Annotated[str, Strict(), characters(GATEWAY_ID, _GATEWAY_FIX, an_id=True)]
Secret = Annotated[SecretStr | None, Strict(), BeforeValidator(partial(secret, bearer=False))]
# A token that cfgenai (or the header) already prefixes with the Bearer scheme.
BEARER = BeforeValidator(partial(secret, bearer=True))
BearerSecret = Annotated[SecretStr | None, Strict(), BEARER]
PathSegment = Annotated[_Text, characters(SEGMENT, _SEGMENT_FIX), AfterValidator(_not_dots)]
BaseUrl = Annotated[_Text, AfterValidator(lambda url: url and _base_url(url))]
ApiBaseUrl = Annotated[str, Strict(), AfterValidator(_api_base_url)]
GoogleCredentials = Annotated[Any, BeforeValidator(google_credentials)]
# true/1/false/0 in any case, and no other word a header might be refused for.
_FLAG = BeforeValidator(lambda v: _FLAGS.get(v.strip().lower(), v) if isinstance(v, str) else v)
Flag = Annotated[bool, Strict(), _FLAG]
ApiVersion = Annotated[str, Field(pattern=r"^v[0-9]+(?:(?:alpha|beta)[0-9]*)?$")]
# google-genai passes these prefixes through on the Gemini API (its t_model).
_MODEL = r"^(?:models/|tunedModels/)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
Model = Annotated[str, Field(pattern=_MODEL)]
Timeout = Annotated[float, _NO_BOOL, Field(gt=0, le=MAX_TIMEOUT, allow_inf_nan=False)]
Retries = Annotated[int, _NO_BOOL, Field(ge=0, le=10)]
FirstWait = Annotated[float, _NO_BOOL, Field(ge=0, le=60, allow_inf_nan=False)]
Mode = Annotated[Literal["auto", "key", "byok"], _LOWER]
Provider = Annotated[Literal["google-ai-studio", "google-vertex-ai"], _LOWER]

# -- the gateway options' values ----------------------------------------------------------------
OptionalFlag = Flag | None
HeaderText = Annotated[str | None, Strict(), Field(min_length=1, pattern=r"^[\x20-\x7e]*$")]
_METADATA = BeforeValidator(lambda v: None if v is None else metadata(v))
Metadata = Annotated[dict[str, str | int | float | bool] | None, _METADATA]
_COST = BeforeValidator(lambda v: None if v is None else custom_cost(v))
CustomCost = Annotated[dict[str, int | float] | None, _COST]
# W3C trace context ids: lowercase hex, not all zeros (OpenTelemetry's invalid ids).
_NOT_ALL_ZEROS = r"^[0-9a-f]*[1-9a-f][0-9a-f]*$"
TraceId = Annotated[str | None, _LOWER, Field(pattern=_NOT_ALL_ZEROS, min_length=32, max_length=32)]
SpanId = Annotated[str | None, _LOWER, Field(pattern=_NOT_ALL_ZEROS, min_length=16, max_length=16)]
# 0 is how Cloudflare's own examples turn caching off for a request; else at least a minute.
_MINUTE_OR_0 = Predicate(lambda ttl: not 0 < ttl < 60)
CacheTtl = Annotated[int | None, _NO_BOOL, Field(ge=0, le=MAX_CACHE_TTL), _MINUTE_OR_0]
Milliseconds = Annotated[int | None, _NO_BOOL, Field(ge=1)]
Attempts = Annotated[int | None, _NO_BOOL, Field(ge=1, le=5)]
RetryDelay = Annotated[int | None, _NO_BOOL, Field(ge=0, le=5000)]
Backoff = Literal["constant", "linear", "exponential"]
BackoffName = Annotated[Backoff | None, _LOWER]

_IN_A_HEADER = (
    "must be non-empty printable ASCII: no line breaks or control characters (sent as a header)"
)
# What each field must be, whatever pydantic found wrong; then what pydantic's own error types
# mean for any other field ({kind}: the type of the value given, never the value).
FIXES = {
    "mode": "must be key (send your Google key), byok (the gateway adds a key stored in "
    "Cloudflare) or auto (key when a Google key is set, else byok)",
    "provider": f"must be {PROVIDER} (the Gemini API) or {VERTEX} (Gemini on Vertex AI)",
    "api_version": "must be a Gemini API version such as v1 or v1beta",
    "model": "must be a model name such as gemini-2.5-flash or models/gemini-2.5-flash",
    "timeout": f"must be a number of seconds greater than 0 and at most {MAX_TIMEOUT:g} "
    f"(24 hours), e.g. 30; unset it for {DEFAULT_TIMEOUT:g}",
    "retries": f"must be a whole number from 0 (no retries) to 10; unset it for {DEFAULT_RETRIES}",
    "retry_delay": "must be a number of seconds from 0 (retry at once) to 60; unset it for 1",
    "cache_ttl": f"must be 0 (do not cache) or whole seconds from 60 to {MAX_CACHE_TTL} (1 month)",
    "request_timeout_ms": "must be a whole number of at least 1 (milliseconds)",
    "max_attempts": "must be a whole number from 1 to 5 (the gateway makes at most 5 attempts)",
    "retry_delay_ms": "must be a whole number from 0 to 5000 (milliseconds; at most 5 s)",
    "backoff": "must be constant, linear or exponential",
    "otel_trace_id": "must be 32 hexadecimal characters, not all zeros",
    "otel_parent_span_id": "must be 16 hexadecimal characters, not all zeros",
    **dict.fromkeys(("cache_key", "event_id", "byok_alias"), _IN_A_HEADER),
    "string_type": "must be a string, not {kind}",
    "bool_type": "must be true or false",
}
