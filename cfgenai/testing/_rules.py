"""What Cloudflare documents of the request option headers, written down here on its own.

A test double that shared the client's tables would accept whatever the client got wrong, so
the emulator imports none of them: each header below is read as the gateway's documentation
describes it (AI Gateway's caching, custom metadata, logging, request handling, custom costs,
BYOK, Unified Billing and OpenTelemetry pages), and a value outside it is refused with 2005.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

ONE_MONTH = 30 * 24 * 3600
METADATA_ENTRIES = 5
COST_KEYS = frozenset(
    {"per_token_in", "per_token_out", "per_cache_read_token", "per_cache_write_token"}
)


class Refused(ValueError):
    """A header value the gateway does not take."""


def _boolean(text: str) -> bool:
    if text not in ("true", "false"):
        raise Refused("must be true or false")
    return text == "true"


def _integer(low: int, high: int | None, *, zero: bool = False) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r"\d+", text):
            raise Refused("must be a whole number")
        value = int(text)
        if not (zero and value == 0) and not (low <= value and (high is None or value <= high)):
            limit = f"{low} to {high}" if high is not None else f"at least {low}"
            raise Refused(f"must be {'0 or ' if zero else ''}{limit}")
        return value

    return parse


def _text(text: str) -> str:
    if not text.strip():
        raise Refused("must not be empty")
    return text


def _object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise Refused("must be a JSON object") from None
    if not isinstance(value, dict):
        raise Refused("must be a JSON object")
    return value


def _metadata(text: str) -> dict[str, Any]:
    value = _object(text)
    if len(value) > METADATA_ENTRIES:
        raise Refused(f"takes at most {METADATA_ENTRIES} entries")
    for key, item in value.items():
        if key.startswith("cf."):
            raise Refused("keys starting with cf. are reserved")
        if not isinstance(item, str | int | float | bool) or item != item:
            raise Refused("values must be strings, numbers or booleans")
    return value


def _costs(text: str) -> dict[str, float]:
    value = _object(text)
    if not value or not set(value) <= COST_KEYS:
        raise Refused(f"takes only {', '.join(sorted(COST_KEYS))}")
    for cost in value.values():
        if isinstance(cost, bool) or not isinstance(cost, int | float):
            raise Refused("costs must be numbers")
        if not 0 <= cost < math.inf:
            raise Refused("costs must be finite and at least 0")
    return value


def _backoff(text: str) -> str:
    if text not in ("constant", "linear", "exponential"):
        raise Refused("must be constant, linear or exponential")
    return text


def _hex(size: int) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not re.fullmatch(f"[0-9a-f]{{{size}}}", text) or not text.strip("0"):
            raise Refused(f"must be {size} lowercase hexadecimal characters, not all zeros")
        return text

    return parse


# Header -> how the gateway reads it.
RULES: dict[str, Callable[[str], Any]] = {
    "cf-aig-cache-ttl": _integer(60, ONE_MONTH, zero=True),
    "cf-aig-skip-cache": _boolean,
    "cf-aig-cache-key": _text,
    "cf-aig-metadata": _metadata,
    "cf-aig-collect-log": _boolean,
    "cf-aig-collect-log-payload": _boolean,
    "cf-aig-event-id": _text,
    "cf-aig-request-timeout": _integer(1, None),
    "cf-aig-max-attempts": _integer(1, 5),
    "cf-aig-retry-delay": _integer(0, 5000),
    "cf-aig-backoff": _backoff,
    "cf-aig-custom-cost": _costs,
    "cf-aig-byok-alias": _text,
    "cf-aig-zdr": _boolean,
    "cf-aig-no-wholesale": _boolean,
    "cf-aig-otel-trace-id": _hex(32),
    "cf-aig-otel-parent-span-id": _hex(16),
}


@dataclass(frozen=True)
class Options:
    """The option headers a request sent, as the gateway read them (``None``: not sent)."""

    values: Mapping[str, Any]

    def __getitem__(self, header: str) -> Any:
        return self.values.get(header)


def read_options(headers: Mapping[str, str]) -> Options | str:
    """The request's options, or why one of them is refused."""
    values, refused = {}, []
    for header, parse in RULES.items():
        text = headers.get(header)
        if text is None:
            continue
        try:
            values[header] = parse(text.strip())
        except Refused as exc:
            refused.append(f"{header}: {exc}")
    return "; ".join(refused) if refused else Options(values)
