"""The gateway's response cache: answers by cache key, each until its TTL runs out, within a
byte budget (the oldest go first once it is spent; expired ones are swept as new ones come)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable

from ._answers import Answer


class AnswerCache:
    def __init__(self, clock: Callable[[], float], budget: int) -> None:
        self._clock = clock
        self._budget = budget
        self._lock = threading.Lock()
        # key -> (expires at, answer, its size), oldest first
        self._answers: OrderedDict[str, tuple[float, Answer, int]] = OrderedDict()
        self._kept = 0

    @staticmethod
    def key(path: str, provider_key: str | None, body: bytes) -> str:
        """The default cache key: the same call with the same credential and body."""
        return hashlib.sha256(
            b"\0".join([path.encode(), (provider_key or "").encode(), body])
        ).hexdigest()

    def get(self, key: str) -> Answer | None:
        with self._lock:
            expires, cached, _ = self._answers.get(key, (0.0, None, 0))
        return cached if cached is not None and self._clock() < expires else None

    def put(self, key: str, answer: Answer, ttl: float) -> None:
        size = len(json.dumps(answer.body, default=str)) + 256  # the answer's own weight
        if size > self._budget:
            return
        with self._lock:
            self._drop(key)
            now = self._clock()
            for old, (expires, _, _) in list(self._answers.items()):
                if expires <= now:
                    self._drop(old)
            while self._kept + size > self._budget:
                self._drop(next(iter(self._answers)))
            self._answers[key] = (now + ttl, answer, size)
            self._kept += size

    def _drop(self, key: str) -> None:
        found = self._answers.pop(key, None)
        if found is not None:
            self._kept -= found[2]

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()
            self._kept = 0
