"""The gateway's per-request options (``cf-aig-*`` headers): typed, validated, rendered."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsConfigDict

from . import _checks as check
from ._checks import FIXES, Backoff, HeaderText, OptionalFlag
from ._errors import ConfigError, problems, unknown_names
from ._sources import ENV_NAMES

if TYPE_CHECKING:
    from google.genai import types

# Booleans as true/false, objects compact; ASCII-only, so safe in a header.
_JSON = json.JSONEncoder(separators=(",", ":"))
_ONE_TRACE = (
    "a client-wide trace id would put every request in one trace (cfgenai sends the current "
    "OpenTelemetry span's ids by default, see CF_AIG_OTEL)"
)
# Options that make sense for one request only, never as a client-wide default, and why.
PER_REQUEST_ONLY = {
    "cache_key": "a client-wide cache key would give every request the same cached answer",
    "otel_trace_id": _ONE_TRACE,
    "otel_parent_span_id": _ONE_TRACE,
}


# The settings' too; a field's docstring describes it (`cfgenai env`, docs/configuration.md).
CONFIG = SettingsConfigDict(
    frozen=True,
    str_strip_whitespace=True,
    populate_by_name=True,
    hide_input_in_errors=True,
    defer_build=True,
    alias_generator=ENV_NAMES,
)


class GatewayOptions(BaseModel):
    """Cloudflare AI Gateway's request options; each one set becomes one ``cf-aig-*`` header."""

    model_config = CONFIG | SettingsConfigDict(extra="forbid")

    cache_ttl: check.CacheTtl = None
    """Seconds the gateway caches answers, 60 to 2592000 (a month); 0 turns its cache off."""
    skip_cache: OptionalFlag = None
    """`true` bypasses the gateway's cache."""
    cache_key: HeaderText = None
    """Cache key replacing the gateway's own; per request only."""
    metadata: check.Metadata = None
    """JSON object of at most 5 text, number or boolean values for the logs; no `cf.` keys."""
    collect_log: OptionalFlag = None
    """`true` or `false`: override the gateway's logging setting."""
    collect_log_payload: OptionalFlag = None
    """`false` keeps the log entry but drops the bodies."""
    event_id: HeaderText = None
    """Event id for tracing, echoed back in `cf-aig-event-id`."""
    request_timeout_ms: check.Milliseconds = None
    """Gateway-side timeout until the first response byte, in milliseconds."""
    max_attempts: check.Attempts = None
    """Gateway-side attempts upstream, 1 to 5."""
    retry_delay_ms: check.RetryDelay = None
    """Gateway-side delay between attempts, 0 to 5000 milliseconds."""
    backoff: check.BackoffName = None
    """Gateway-side backoff: `constant`, `linear` or `exponential`."""
    custom_cost: check.CustomCost = None
    """JSON object of costs per token, at least 0: `per_token_in`, `per_token_out`,
    `per_cache_read_token`, `per_cache_write_token`."""
    byok_alias: HeaderText = None
    """Alias of the stored key the gateway adds in byok mode."""
    zdr: OptionalFlag = None
    """`true` or `false`: zero data retention (Unified Billing)."""
    no_wholesale: OptionalFlag = None
    """`true`: never Unified Billing, only your own provider credentials (sent or stored)."""
    otel_trace_id: check.TraceId = None
    """OpenTelemetry trace id (32 hex characters) for the gateway's span; per request only."""
    otel_parent_span_id: check.SpanId = None
    """Parent span id (16 hex characters) for the gateway's span; per request only."""

    def headers(self) -> dict[str, str]:
        """The ``cf-aig-*`` headers for the options that are set."""
        return {
            OPTION_HEADERS[name]: value if isinstance(value, str) else _JSON.encode(value)
            for name, value in self
            if value is not None
        }


# Each option's header is its name in kebab case; the `_ms` ones drop the unit.
OPTION_HEADERS = {
    name: "cf-aig-" + name.removesuffix("_ms").replace("_", "-")
    for name in GatewayOptions.model_fields
}


class RequestOptions(TypedDict, total=False):
    """The keyword arguments of ``request_options``."""

    cache_ttl: int
    skip_cache: bool
    cache_key: str
    metadata: dict[str, str | int | float | bool]
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
    """``HttpOptions`` carrying gateway options for one request, which win over the client's:
    ``config=types.GenerateContentConfig(http_options=request_options(cache_ttl=60))``.
    Raises ``ConfigError`` (a ``ValueError``) naming each bad option and its limit."""
    from google.genai import types

    return types.HttpOptions(headers=validate_options(dict(options)).headers())


def validate_options(options: dict[str, Any]) -> GatewayOptions:
    """``options`` (by option name) checked, every problem in one ``ConfigError``."""
    found = unknown_names(
        options, OPTION_HEADERS, "gateway option", f"the options are {', '.join(OPTION_HEADERS)}"
    )
    try:
        validated = GatewayOptions(**{k: v for k, v in options.items() if k in OPTION_HEADERS})
    except ValidationError as exc:
        found += problems(exc, str, FIXES)
    if found:
        raise ConfigError(found)
    return validated


request_options.__module__ = "cfgenai"
RequestOptions.__module__ = "cfgenai.types"
