"""What the emulator records: requests as received and as sent on to Google, in a journal
whose memory is bounded (a number of requests, and a budget for the bodies kept in full)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import IO, Any
from urllib.parse import parse_qsl

from .._secrets import fingerprint, mask_headers
from . import _compat

MODEL_CALL = re.compile(r"/models/(?P<model>[^/:]+):(?P<action>\w+)$")
MODEL_PATH = re.compile(r"/(?P<version>v\d+\w*)/models(?:/(?P<model>[^/:]+))?")
RESOURCE = re.compile(
    r"(?:projects/[^/]+/locations/[^/]+/)?(?:files|cachedContents|batches|fileSearchStores"
    r"|batchPredictionJobs|interactions)/[^/:?]+(?:/(?:upload/)?operations/[^/:?]+)?"
)
# Query parameters that carry credentials (Google accepts its key as ?key=).
SECRET_PARAMS = frozenset({"key", "api_key", "apikey", "token", "access_token"})
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request as received. Header names are lowercase.

    When the journal no longer keeps a body in full (see ``GatewayEmulator(journal_bytes=)``),
    ``body`` is empty and ``body_sha256`` and ``body_size`` describe it.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    body_sha256: str | None = None  # set when only the digest was kept
    body_size: int | None = None
    # A resumable upload's chunk: its bytes in a temporary file, never in the journal.
    payload: IO[bytes] | None = field(default=None, compare=False)
    label: str | None = None  # the model a Live session's frame is for

    def __post_init__(self) -> None:
        if self.body_size is None:
            object.__setattr__(self, "body_size", len(self.body))

    @classmethod
    def from_scope(cls, scope: Mapping[str, Any], **body: Any) -> RecordedRequest:
        """The request an ASGI ``scope`` describes (a WebSocket's as ``GET``), with ``body``."""
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope["query_string"].decode("latin-1")
        return cls(scope.get("method", "GET"), scope["path"], query, headers, **body)

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query))

    @property
    def json(self) -> Any:
        if self.body_sha256 is not None:
            raise ValueError(
                f"the journal kept only the SHA-256 of this {self.body_size}-byte body: raise "
                "GatewayEmulator(journal_bytes=...) to keep bodies like it"
            )
        return json.loads(self.body)

    @property
    def model(self) -> str | None:
        """The model a Gemini, compat, Live or Interactions API request is for."""
        if self.label is not None:
            return self.label
        match = MODEL_CALL.search(self.path) or MODEL_PATH.search(self.path)
        if match and match["model"]:
            return match["model"]
        try:
            body = self.json
        except (ValueError, RecursionError):
            return None
        if self.path.endswith("/interactions") and isinstance(body, dict):
            model = body.get("model")
            return model if isinstance(model, str) else None
        return _compat.model_of(body)

    @property
    def resource(self) -> str | None:
        """The resource a request is about (``files/abc``, ``cachedContents/x``,
        ``batches/y``, ``fileSearchStores/z``...), or None."""
        match = RESOURCE.search(self.path)
        return match[0] if match else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def copy_body(self, target: IO[bytes]) -> int:
        """Append the body to ``target``, in blocks; the number of bytes."""
        target.seek(0, 2)
        if self.payload is None:
            target.write(self.body)
            return len(self.body)
        self.payload.seek(0)
        shutil.copyfileobj(self.payload, target, 2**16)
        return self.body_size or 0

    def digested(self) -> RecordedRequest:
        """This request with its body replaced by the body's digest and size."""
        digest = hashlib.sha256(self.body).hexdigest()
        return replace(self, body=b"", body_sha256=digest, body_size=len(self.body))

    def __repr__(self) -> str:
        target = printable(self.path) + (f"?{masked_query(self.query)}" if self.query else "")
        return f"RecordedRequest({printable(self.method)} {target}, headers={mask_headers(self.headers)})"


def printable(text: str) -> str:
    """``text`` with every character outside printable ASCII escaped, so that a log line or
    repr can neither be split nor send terminal escapes."""
    return _UNPRINTABLE.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def masked_query(query: str, mask: str | None = None) -> str:
    """A query string with credential values (``key=``...) as fingerprints (or ``mask``),
    printable."""
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and name.lower() in SECRET_PARAMS:
            part = f"{name}={mask or fingerprint(value)}"
        parts.append(printable(part))
    return "&".join(parts)


def weight(request: RecordedRequest) -> int:
    """Roughly the memory a request's line and headers take in the journal (each string
    costs about 50 bytes of its own, each dictionary entry as much again)."""
    head = len(request.path) + len(request.query) + 300
    return head + sum(len(k) + len(v) + 100 for k, v in request.headers.items())


class _Ledger:
    """At most ``size`` requests; bodies kept in full up to ``budget`` bytes in all, the
    oldest turned into digests first; the rest of the requests (headers) within ``budget``
    too, the oldest forgotten first."""

    def __init__(self, size: int, budget: int) -> None:
        self._entries: deque[RecordedRequest] = deque()
        self._size, self._budget = size, budget
        self._kept = 0  # bytes of bodies kept in full
        self._heads = 0  # weight of everything else
        self._first_full = 0  # entries before this index hold digests (or empty bodies)

    def append(self, request: RecordedRequest) -> None:
        if len(request.body) > self._budget:
            request = request.digested()
        self._entries.append(request)
        self._kept += len(request.body)
        self._heads += weight(request)
        while len(self._entries) > self._size or (
            self._heads > self._budget and len(self._entries) > 1
        ):
            oldest = self._entries.popleft()
            self._kept -= len(oldest.body)
            self._heads -= weight(oldest)
            self._first_full = max(self._first_full - 1, 0)
        while self._kept > self._budget:
            oldest = self._entries[self._first_full]
            self._entries[self._first_full] = oldest.digested() if oldest.body else oldest
            self._kept -= len(oldest.body)
            self._first_full += 1

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self._entries)

    def last(self) -> RecordedRequest | None:
        return self._entries[-1] if self._entries else None

    def clear(self) -> None:
        self._entries.clear()
        self._kept = self._heads = self._first_full = 0


class Journal:
    """The requests received, the requests sent upstream, and how many connections sent them
    (each counted once per clearing: one kept alive across it counts again if it sends)."""

    def __init__(self, size: int, body_budget: int) -> None:
        self._lock = threading.Lock()
        self._received = _Ledger(size, body_budget)
        self._upstream = _Ledger(size, body_budget)
        self._connections = 0
        self._cleared = 0  # how many times it was cleared

    def __len__(self) -> int:
        return len(self._received)

    def received(self, request: RecordedRequest) -> None:
        with self._lock:
            self._received.append(request)

    def sent_upstream(self, request: RecordedRequest) -> None:
        with self._lock:
            self._upstream.append(request)

    def connected(self, seen: int) -> int:
        """Counts a connection that sends, unless it was counted since the last clearing
        (``seen``, what this returned to it last)."""
        with self._lock:
            if seen != self._cleared:
                self._connections += 1
            return self._cleared

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._received)

    @property
    def last(self) -> RecordedRequest | None:
        with self._lock:
            return self._received.last()

    @property
    def upstream(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._upstream)

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._upstream.clear()
            self._connections = 0
            self._cleared += 1
