"""Which credential pays the provider, in the gateway's order, and Unified Billing's rate limit.

(1) a provider key on the request, forwarded unchanged; (2) the stored key under the alias
the request names, or ``default``; (3) Unified Billing (Cloudflare pays from credits), when
the account has it and the request does not send ``cf-aig-no-wholesale: true``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ._rules import Options

# The key the stand-in for Google accepts from Unified Billing: Cloudflare's own.
UNIFIED_BILLING_KEY = "cfgenai-emulator-unified-billing"


@dataclass(frozen=True)
class Credential:
    """What the gateway sends upstream (``key``, ``None`` for none) and who pays:
    ``"request"``, ``"stored"``, ``"unified"`` or ``None``; or the refusal ``code``."""

    key: str | None = None
    billing: str | None = None
    code: int | None = None


def credential(
    request_key: str | None,
    options: Options,
    stored_keys: Mapping[str, str],
    *,
    unified_billing: bool,
) -> Credential:
    if request_key is not None:
        return Credential(request_key, "request")
    named = options["cf-aig-byok-alias"]
    alias = named or "default"
    if alias in stored_keys:
        return Credential(stored_keys[alias], "stored")
    if options["cf-aig-no-wholesale"]:
        # A named alias that is missing is still the more precise answer without credits.
        return Credential(code=2040 if named and not unified_billing else 2044)
    if unified_billing:
        return Credential(UNIFIED_BILLING_KEY, "unified")
    if named is not None:
        return Credential(code=2040)
    return Credential()  # no credential at all: Google refuses


class RateLimit:
    """At most ``requests`` in any ``seconds`` (a sliding window), on ``clock``."""

    def __init__(self, requests: int, seconds: float, clock: Callable[[], float]) -> None:
        self.requests, self.seconds = requests, seconds
        self._clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            now = self._clock()
            while self._times and self._times[0] <= now - self.seconds:
                self._times.popleft()
            if len(self._times) >= self.requests:
                return False
            self._times.append(now)
            return True

    def clear(self) -> None:
        with self._lock:
            self._times.clear()
