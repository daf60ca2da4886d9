"""Scripted answers and faults: what tests ask the emulator to say or to get wrong next."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from ._answers import Answer, Fault, gateway_error, policy_refusal

if TYPE_CHECKING:
    from ._journal import RecordedRequest

T = TypeVar("T")

# A scripted answer, as GatewayEmulator.reply describes it.
Answerable = str | Mapping[str, Any] | Any
Reply = Answerable | list[Answerable] | Callable[["RecordedRequest"], Any]


@dataclass(frozen=True)
class Refusal:
    """The gateway's own error ``code``, with ``detail`` added to its message and extra
    response ``headers`` (``cf-aig-dlp``); or one of Policies' refusals (a ``str`` code)."""

    code: int | str
    detail: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    spent: float = 0
    limit: float = 0

    def answer(self) -> Answer:
        if isinstance(self.code, str):
            return policy_refusal(self.code, spent=self.spent, limit=self.limit)
        answer = gateway_error(self.code, self.detail)
        answer.headers.update(self.headers)
        return answer


class Script:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[tuple[Fault, Fault]] = []
        self._refusals: list[tuple[Fault, Refusal]] = []
        self._flags: list[tuple[Fault, str]] = []
        self._replies: list[Reply] = []
        self._reply_chunk_delay = 0.0
        self.generation = 0  # how many resets: a session from before one answers no more

    def reply(self, answers: list[Reply], chunk_delay: float) -> None:
        with self._lock:
            self._replies = answers
            self._reply_chunk_delay = chunk_delay

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append((fault, fault))

    def add_refusal(self, fault: Fault, refusal: Refusal) -> None:
        with self._lock:
            self._refusals.append((fault, refusal))

    def add_flag(self, fault: Fault, dlp: str) -> None:
        with self._lock:
            self._flags.append((fault, dlp))

    def next_reply(self) -> Reply | None:
        """The scripted answer for this call: the first in line, and the last one stays."""
        with self._lock:
            scripted = self._replies[0] if self._replies else None
            if len(self._replies) > 1:
                self._replies.pop(0)
        return scripted

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            fault = _take(self._faults, path)
            if fault is None and self._reply_chunk_delay and self._replies:
                fault = Fault(None, 1, chunk_delay=self._reply_chunk_delay)
            return fault

    def take_refusal(self, path: str) -> Refusal | None:
        with self._lock:
            return _take(self._refusals, path)

    def take_flag(self, path: str) -> str | None:
        """The ``cf-aig-dlp`` header to add to the next answer for ``path``."""
        with self._lock:
            return _take(self._flags, path)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._faults.clear()
            self._refusals.clear()
            self._flags.clear()
            self._replies.clear()


def _take(entries: list[tuple[Fault, T]], path: str) -> T | None:
    """The value of the first entry whose fault applies to ``path``, counted down and removed
    once used up (lock held)."""
    for entry in entries:
        fault, value = entry
        if fault.route is None or fault.route in path:
            fault.remaining -= 1
            if fault.remaining <= 0:
                entries.remove(entry)
            return value
    return None
