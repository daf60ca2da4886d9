"""The gateway's response cache: answers by cache key, each until its TTL runs out."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from ._answers import Answer


class AnswerCache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[str, tuple[float, Answer]] = {}

    @staticmethod
    def key(path: str, provider_key: str | None, body: bytes) -> str:
        """The default cache key: the same call with the same credential and body."""
        return hashlib.sha256(
            b"\0".join([path.encode(), (provider_key or "").encode(), body])
        ).hexdigest()

    def get(self, key: str) -> Answer | None:
        with self._lock:
            expires, cached = self._answers.get(key, (0.0, None))
        return cached if cached is not None and self._clock() < expires else None

    def put(self, key: str, answer: Answer, ttl: float) -> None:
        with self._lock:
            self._answers[key] = (self._clock() + ttl, answer)

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
