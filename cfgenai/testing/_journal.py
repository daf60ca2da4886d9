"""What the emulator records: requests as received, requests sent on to Google, connections."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from .._secrets import mask_headers
from . import _compat

MODEL_CALL = re.compile(r"/models/(?P<model>[^/:]+):(?P<action>\w+)$")
MODEL_PATH = re.compile(r"/(?P<version>v\d+\w*)/models(?:/(?P<model>[^/:]+))?")


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as received. Header names are lowercase."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query))

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def model(self) -> str | None:
        """The model a Gemini or compat request is for."""
        match = MODEL_CALL.search(self.path) or MODEL_PATH.search(self.path)
        if match and match["model"]:
            return match["model"]
        try:
            return _compat.model_of(self.json)
        except ValueError:
            return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        query = f"?{self.query}" if self.query else ""
        return f"RecordedRequest({self.method} {self.path}{query}, headers={mask_headers(self.headers)})"


class Journal:
    """The requests received, the requests sent upstream, and the clients' connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[RecordedRequest] = []
        self._upstream: list[RecordedRequest] = []
        self._connections: set[Any] = set()

    def __len__(self) -> int:
        return len(self._received)

    def received(self, request: RecordedRequest, client: Any) -> None:
        with self._lock:
            self._received.append(request)
            self._connections.add(client)

    def sent_upstream(self, request: RecordedRequest) -> None:
        with self._lock:
            self._upstream.append(request)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._received)

    @property
    def last(self) -> RecordedRequest | None:
        with self._lock:
            return self._received[-1] if self._received else None

    @property
    def upstream(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._upstream)

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._upstream.clear()
            self._connections.clear()
