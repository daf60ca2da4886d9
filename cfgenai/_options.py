"""The gateway's per-request options (``cf-aig-*`` headers): typed, validated, rendered."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypedDict, Unpack

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from . import _checks as check
from ._checks import MAX_CACHE_TTL, HeaderText, OptionalFlag, optional
from ._errors import ConfigError, problems, unknown_names

if TYPE_CHECKING:
    from google.genai import types

MetadataValue = str | int | float | bool
Backoff = Literal["constant", "linear", "exponential"]
# Options that make sense for one request only, never as a client-wide default.
PER_REQUEST_ONLY = ("cache_key", "otel_trace_id", "otel_parent_span_id")
# What an option must be, whatever pydantic found wrong with its value.
OPTION_FIXES = {"backoff": "must be constant, linear or exponential"}


def _option(header: str, description: str, *, env: str | None = None) -> Any:
    env = env or "CF_AIG_" + header.removeprefix("cf-aig-").replace("-", "_").upper()
    return Field(
        None,
        validation_alias=AliasChoices(env),
        description=description,
        json_schema_extra={"header": header},
    )


def _check(rule: Callable[[Any], Any]) -> BeforeValidator:
    return BeforeValidator(optional(rule))


class GatewayOptions(BaseModel):
    """Cloudflare AI Gateway's request options; each one set becomes one ``cf-aig-*`` header."""

    # Built when first used: importing cfgenai builds nothing.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        hide_input_in_errors=True,
        defer_build=True,
    )

    # 0 is how Cloudflare's own examples turn caching off for a request.
    cache_ttl: Annotated[
        int | None,
        _check(
            check.whole(
                60,
                MAX_CACHE_TTL,
                "seconds; the gateway caches for 1 minute to 1 month",
                "do not cache",
            )
        ),
    ] = _option(
        "cf-aig-cache-ttl",
        "Cache answers for this many seconds, 60 to 2592000 (one month); 0 turns the "
        "gateway's cache off for these requests.",
    )
    skip_cache: OptionalFlag = _option("cf-aig-skip-cache", "`true` bypasses the gateway's cache.")
    cache_key: HeaderText = _option(
        "cf-aig-cache-key",
        "Cache key replacing the gateway's own. Per request only: a client-wide key would give "
        "every request the same answer.",
    )
    metadata: Annotated[dict[str, MetadataValue] | None, _check(check.metadata)] = _option(
        "cf-aig-metadata",
        "JSON object of at most 5 string, number or boolean values for the logs, e.g. "
        '`{"team":"search"}`; keys starting with `cf.` are reserved.',
    )
    collect_log: OptionalFlag = _option(
        "cf-aig-collect-log", "`true` or `false`: override the gateway's logging setting."
    )
    collect_log_payload: OptionalFlag = _option(
        "cf-aig-collect-log-payload", "`false` keeps the log entry but drops the bodies."
    )
    event_id: HeaderText = _option(
        "cf-aig-event-id", "Event id for tracing, echoed back in `cf-aig-event-id`."
    )
    request_timeout_ms: Annotated[int | None, _check(check.whole(1, None, "milliseconds"))] = (
        _option(
            "cf-aig-request-timeout",
            "Gateway-side timeout until the first response byte, in milliseconds.",
            env="CF_AIG_REQUEST_TIMEOUT_MS",
        )
    )
    max_attempts: Annotated[
        int | None,
        _check(check.whole(1, 5, "attempts; the gateway retries at most 5 times in all")),
    ] = _option("cf-aig-max-attempts", "Gateway-side attempts upstream, 1 to 5.")
    retry_delay_ms: Annotated[
        int | None,
        _check(check.whole(0, 5000, "milliseconds; the gateway waits at most 5 seconds")),
    ] = _option(
        "cf-aig-retry-delay",
        "Gateway-side delay between attempts, 0 to 5000 milliseconds.",
        env="CF_AIG_RETRY_DELAY_MS",
    )
    backoff: Annotated[Backoff | None, check.LOWER] = _option(
        "cf-aig-backoff", "Gateway-side backoff: `constant`, `linear` or `exponential`."
    )
    custom_cost: Annotated[dict[str, int | float] | None, _check(check.custom_cost)] = _option(
        "cf-aig-custom-cost",
        "JSON object of costs per token, at least 0: `per_token_in`, `per_token_out`, "
        "`per_cache_read_token`, `per_cache_write_token`.",
    )
    byok_alias: HeaderText = _option(
        "cf-aig-byok-alias", "Alias of the stored key the gateway adds in byok mode."
    )
    zdr: OptionalFlag = _option(
        "cf-aig-zdr", "`true` or `false`: zero data retention (Unified Billing)."
    )
    no_wholesale: OptionalFlag = _option(
        "cf-aig-no-wholesale",
        "`true`: use your provider credentials only (the key in the request, else a stored "
        "key), never Unified Billing; without them the gateway answers 400 instead of paying "
        "from your credits.",
    )
    otel_trace_id: Annotated[str | None, _check(check.trace_id(32))] = _option(
        "cf-aig-otel-trace-id",
        "OpenTelemetry trace id (32 hex characters) the gateway's span joins. Per request "
        "only; by default the current span's (CF_AIG_OTEL).",
    )
    otel_parent_span_id: Annotated[str | None, _check(check.trace_id(16))] = _option(
        "cf-aig-otel-parent-span-id",
        "Parent span id (16 hex characters) for the gateway's span. Per request only; by "
        "default the current span's (CF_AIG_OTEL).",
    )

    def headers(self) -> dict[str, str]:
        """The ``cf-aig-*`` headers for the options that are set."""
        return {OPTION_HEADERS[name]: _render(value) for name, value in self if value is not None}


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
    backoff: Backoff
    custom_cost: dict[str, int | float]
    byok_alias: str
    zdr: bool
    no_wholesale: bool
    otel_trace_id: str
    otel_parent_span_id: str


def request_options(**options: Unpack[RequestOptions]) -> types.HttpOptions:
    """``HttpOptions`` carrying gateway options for one request; they win over the client's.

    Use it as ``config=types.GenerateContentConfig(http_options=request_options(cache_ttl=60))``.
    Raises ``ConfigError`` (a ``ValueError``) naming each bad option and its limit.
    """
    from google.genai import types

    return types.HttpOptions(headers=validate_options(dict(options)).headers())


def validate_options(options: dict[str, Any]) -> GatewayOptions:
    """``options`` (by option name) checked, every problem in one ``ConfigError``."""
    unknown = unknown_names(
        options, OPTION_HEADERS, "gateway option", f"the options are {', '.join(OPTION_HEADERS)}"
    )
    try:
        validated = GatewayOptions.model_validate(
            {k: v for k, v in options.items() if k in OPTION_HEADERS}
        )
    except ValidationError as exc:
        raise ConfigError(unknown + problems(exc, str, OPTION_FIXES)) from None
    if unknown:
        raise ConfigError(unknown)
    return validated


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))  # ASCII-only: safe in a header
    return str(value)


request_options.__module__ = "cfgenai"
RequestOptions.__module__ = "cfgenai.types"
