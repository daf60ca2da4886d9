"""The gateway's per-request options (``cf-aig-*`` headers): typed, validated, rendered."""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import NoDecode

from ._errors import ConfigError

if TYPE_CHECKING:
    from google.genai import types

MAX_CACHE_TTL = 30 * 24 * 3600  # the gateway caches for at most one month
MAX_METADATA_ENTRIES = 5
COST_FIELDS = ("per_token_in", "per_token_out", "per_cache_read_token", "per_cache_write_token")
NOT_HEADER_SAFE = re.compile(r"[^\x20-\x7e]")

MetadataValue = str | int | float | bool
# Options that make sense for one request only, never as a client-wide default.
PER_REQUEST_ONLY = ("cache_key", "otel_trace_id", "otel_parent_span_id")
# W3C trace context ids, lowercase hex, not all zeros (OpenTelemetry's invalid ids).
TRACE_ID = re.compile(r"(?!0{32})[0-9a-f]{32}")
SPAN_ID = re.compile(r"(?!0{16})[0-9a-f]{16}")


def _option(header: str, description: str, *, env: str | None = None) -> Any:
    env = env or "CF_AIG_" + header.removeprefix("cf-aig-").replace("-", "_").upper()
    return Field(
        None,
        validation_alias=AliasChoices(env),
        description=description,
        json_schema_extra={"header": header},
    )


class GatewayOptions(BaseModel):
    """Cloudflare AI Gateway's request options; each one set becomes one ``cf-aig-*`` header."""

    # Built when first used (GatewaySettings inherits this): importing cfgenai builds nothing.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
        defer_build=True,
    )

    cache_ttl: int | None = _option(
        "cf-aig-cache-ttl",
        "Cache answers for this many seconds, 60 to 2592000 (one month); 0 turns the "
        "gateway's cache off for these requests.",
    )
    skip_cache: bool | None = _option("cf-aig-skip-cache", "`true` bypasses the gateway's cache.")
    cache_key: str | None = _option(
        "cf-aig-cache-key",
        "Cache key replacing the gateway's own. Per request only: a client-wide key would give "
        "every request the same answer.",
    )
    metadata: Annotated[dict[str, MetadataValue] | None, NoDecode] = _option(
        "cf-aig-metadata",
        "JSON object of at most 5 string, number or boolean values for the logs, e.g. "
        '`{"team":"search"}`; keys starting with `cf.` are reserved.',
    )
    collect_log: bool | None = _option(
        "cf-aig-collect-log", "`true` or `false`: override the gateway's logging setting."
    )
    collect_log_payload: bool | None = _option(
        "cf-aig-collect-log-payload", "`false` keeps the log entry but drops the bodies."
    )
    event_id: str | None = _option(
        "cf-aig-event-id", "Event id for tracing, echoed back in `cf-aig-event-id`."
    )
    request_timeout_ms: int | None = _option(
        "cf-aig-request-timeout",
        "Gateway-side timeout until the first response byte, in milliseconds.",
        env="CF_AIG_REQUEST_TIMEOUT_MS",
    )
    max_attempts: int | None = _option(
        "cf-aig-max-attempts", "Gateway-side attempts upstream, 1 to 5."
    )
    retry_delay_ms: int | None = _option(
        "cf-aig-retry-delay",
        "Gateway-side delay between attempts, 0 to 5000 milliseconds.",
        env="CF_AIG_RETRY_DELAY_MS",
    )
    backoff: Literal["constant", "linear", "exponential"] | None = _option(
        "cf-aig-backoff", "Gateway-side backoff: `constant`, `linear` or `exponential`."
    )
    custom_cost: Annotated[dict[str, int | float] | None, NoDecode] = _option(
        "cf-aig-custom-cost",
        "JSON object of costs per token, at least 0: `per_token_in`, `per_token_out`, "
        "`per_cache_read_token`, `per_cache_write_token`.",
    )
    byok_alias: str | None = _option(
        "cf-aig-byok-alias", "Alias of the stored key the gateway adds in byok mode."
    )
    zdr: bool | None = _option(
        "cf-aig-zdr", "`true` or `false`: zero data retention (Unified Billing)."
    )
    no_wholesale: bool | None = _option(
        "cf-aig-no-wholesale",
        "`true`: use your provider credentials only (the key in the request, else a stored "
        "key), never Unified Billing; without them the gateway answers 400 instead of paying "
        "from your credits.",
    )
    otel_trace_id: str | None = _option(
        "cf-aig-otel-trace-id",
        "OpenTelemetry trace id (32 hex characters) the gateway's span joins. Per request "
        "only; by default the current span's (CF_AIG_OTEL).",
    )
    otel_parent_span_id: str | None = _option(
        "cf-aig-otel-parent-span-id",
        "Parent span id (16 hex characters) for the gateway's span. Per request only; by "
        "default the current span's (CF_AIG_OTEL).",
    )

    def headers(self) -> dict[str, str]:
        """The ``cf-aig-*`` headers for the options that are set."""
        return {
            OPTION_HEADERS[name]: _render(value)
            for name, value in self
            if name in OPTION_HEADERS and value is not None
        }

    @field_validator(
        "skip_cache", "collect_log", "collect_log_payload", "zdr", "no_wholesale", mode="before"
    )
    @classmethod
    def _check_bool(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"true": True, "1": True, "false": False, "0": False}.get(
                value.strip().lower(), value
            )
        if value is not None and not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("cache_ttl", mode="before")
    @classmethod
    def _check_cache_ttl(cls, value: Any) -> Any:
        # 0 is how Cloudflare's own examples turn caching off for a request.
        return _whole(
            value,
            60,
            MAX_CACHE_TTL,
            "seconds; the gateway caches for 1 minute to 1 month",
            zero="do not cache",
        )

    @field_validator("request_timeout_ms", mode="before")
    @classmethod
    def _check_request_timeout(cls, value: Any) -> Any:
        return _whole(value, 1, None, "milliseconds")

    @field_validator("max_attempts", mode="before")
    @classmethod
    def _check_max_attempts(cls, value: Any) -> Any:
        return _whole(value, 1, 5, "attempts; the gateway retries at most 5 times in all")

    @field_validator("retry_delay_ms", mode="before")
    @classmethod
    def _check_retry_delay(cls, value: Any) -> Any:
        return _whole(value, 0, 5000, "milliseconds; the gateway waits at most 5 seconds")

    @field_validator("backoff", mode="before")
    @classmethod
    def _check_backoff(cls, value: Any) -> Any:
        value = value.strip().lower() if isinstance(value, str) else value
        if value is not None and value not in ("constant", "linear", "exponential"):
            raise ValueError("must be constant, linear or exponential")
        return value

    @field_validator("cache_key", "event_id", "byok_alias", mode="before")
    @classmethod
    def _check_text(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError("must be a non-empty string")
        if NOT_HEADER_SAFE.search(value.strip()):
            raise ValueError(
                "must be printable ASCII: no line breaks or control characters (it is sent as a header)"
            )
        return value.strip()

    @field_validator("otel_trace_id", "otel_parent_span_id", mode="before")
    @classmethod
    def _check_otel_id(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        trace = info.field_name == "otel_trace_id"
        pattern, size = (TRACE_ID, 32) if trace else (SPAN_ID, 16)
        text = value.strip().lower() if isinstance(value, str) else None
        if text is None or not pattern.fullmatch(text):
            raise ValueError(f"must be {size} hexadecimal characters, not all zeros")
        return text

    @field_validator("metadata", mode="before")
    @classmethod
    def _check_metadata(cls, value: Any) -> Any:
        entries = _json_object(value, 'a JSON object such as {"team":"search","user":42}')
        if entries is None:
            return None
        if len(entries) > MAX_METADATA_ENTRIES:
            raise ValueError(
                f"has {len(entries)} entries; the gateway keeps at most {MAX_METADATA_ENTRIES}"
            )
        for key, item in entries.items():
            if key.startswith("cf."):
                raise ValueError(
                    f"key {key!r}: keys starting with 'cf.' are reserved by Cloudflare"
                )
            if not isinstance(item, str | int | float) or (
                isinstance(item, float) and not math.isfinite(item)
            ):
                raise ValueError(f"key {key!r}: values must be strings, numbers or booleans")
        return entries

    @field_validator("custom_cost", mode="before")
    @classmethod
    def _check_custom_cost(cls, value: Any) -> Any:
        costs = _json_object(value, 'a JSON object such as {"per_token_in":0.000001}')
        if costs is None:
            return None
        unknown = sorted(set(costs) - set(COST_FIELDS))
        if unknown or not costs:
            raise ValueError(f"takes only the fields {', '.join(COST_FIELDS)}")
        for key, cost in costs.items():
            if (
                isinstance(cost, bool)
                or not isinstance(cost, int | float)
                or not 0 <= cost < math.inf
            ):
                raise ValueError(f"{key} must be a number of at least 0")
        return costs


OPTION_FIELDS: tuple[str, ...] = tuple(GatewayOptions.model_fields)
_FIELD_BY_ENV = {
    str(choice): name
    for name, info in GatewayOptions.model_fields.items()
    if isinstance(info.validation_alias, AliasChoices)
    for choice in info.validation_alias.choices
}


OPTION_HEADERS: dict[str, str] = {
    name: str(info.json_schema_extra["header"])  # type: ignore[index]
    for name, info in GatewayOptions.model_fields.items()
}


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of :func:`request_options`."""

    cache_ttl: int
    skip_cache: bool
    cache_key: str
    metadata: dict[str, MetadataValue]
    collect_log: bool
    collect_log_payload: bool
    event_id: str
    request_timeout_ms: int
    max_attempts: int
    retry_delay_ms: int
    backoff: Literal["constant", "linear", "exponential"]
    custom_cost: dict[str, int | float]
    byok_alias: str
    zdr: bool
    no_wholesale: bool
    otel_trace_id: str
    otel_parent_span_id: str


def request_options(**options: Any) -> types.HttpOptions:
    """``HttpOptions`` carrying gateway options for one request; they win over the client's.

    Use it as ``config=types.GenerateContentConfig(http_options=request_options(cache_ttl=60))``.
    Raises ``ConfigError`` (a ``ValueError``) naming each bad option and its limit.
    """
    from google.genai import types

    return types.HttpOptions(headers=validate_options(options).headers())


def validate_options(options: dict[str, Any]) -> GatewayOptions:
    try:
        return GatewayOptions.model_validate(options)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "?"
            field = _FIELD_BY_ENV.get(name, name)
            cause = error.get("ctx", {}).get("error")
            if error["type"] == "extra_forbidden":
                import difflib

                close = difflib.get_close_matches(name, OPTION_FIELDS, n=1)
                message = f"is not a gateway option; the options are {', '.join(OPTION_FIELDS)}"
                if close:
                    message = f"is not a gateway option; did you mean {close[0]}?"
            else:
                message = str(cause) if cause is not None else error["msg"]
            problems.append(f"{field}: {message}")
        raise ConfigError(problems) from None


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))  # ASCII-only: safe in a header
    return str(value)


def _whole(value: Any, low: int, high: int | None, unit: str, zero: str = "") -> Any:
    """``value`` as a whole number from ``low`` to ``high``, or 0 when ``zero`` says what
    0 means."""
    if value is None:
        return None
    try:
        number = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        number = None
    if isinstance(number, bool) or not isinstance(number, int):
        number = None
    if number is None or not (
        low <= number <= (high if high is not None else number) or (zero and number == 0)
    ):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        either = f"0 ({zero}) or " if zero else ""
        raise ValueError(f"must be {either}a whole number {bounds} ({unit})")
    return number


def _json_object(value: Any, example: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise ValueError(f"must be {example}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"must be {example}")
    return value
