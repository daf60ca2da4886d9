"""Google's resources behind the gateway: files (resumable uploads), cached contents, batches,
file search stores and their operations, kept in memory (uploaded bytes in temporary files).

Paths are Google's, after the gateway's prefix: ``/upload/v1beta/files``, ``/v1beta/files/{id}``,
``/v1beta/cachedContents/{id}`` (on Vertex AI under ``/v1/projects/{p}/locations/{l}``),
``/v1beta/batches/{id}``, ``/v1beta/fileSearchStores/{id}``... Each answer is the JSON Google
gives, so google-genai parses it as it parses Google's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import IO, Any

from . import _google
from ._answers import Answer
from ._journal import RecordedRequest

GOOGLE_HOST = "https://generativelanguage.googleapis.com"
_V = r"(?P<version>v\d+\w*)"
_ID = r"(?P<id>[^/:]+)"
UPLOAD = re.compile(rf"/upload/{_V}/(?:files|fileSearchStores/{_ID}:uploadToFileSearchStore)")
FILES = re.compile(rf"/{_V}/files(?:/{_ID}(?P<download>:download)?)?")
CACHES = re.compile(rf"/{_V}/(?P<scope>projects/[^/]+/locations/[^/]+/)?cachedContents(?:/{_ID})?")
BATCHES = re.compile(rf"/{_V}/batches(?:/{_ID}(?P<cancel>:cancel)?)?")
CREATE_BATCH = re.compile(rf"/{_V}/models/(?P<model>[^/:]+):batchGenerateContent")
STORES = re.compile(rf"/{_V}/fileSearchStores(?:/{_ID}(?P<import>:importFile)?)?")
OPERATIONS = re.compile(
    rf"/{_V}/(?P<name>(?:fileSearchStores/[^/]+/(?:upload/)?)?operations/[^/]+)"
)
PAGE_SIZE = 10
_OCTETS = "application/octet-stream"
# Copied into each answer: the gateway adds its own headers to an answer's.
_ACTIVE = {"x-goog-upload-status": "active", "x-goog-upload-chunk-granularity": str(8 * 2**20)}
_FINAL = {"x-goog-upload-status": "final"}


def now(later: float = 0) -> str:
    """The time now (or ``later`` seconds from now) as Google writes it."""
    moment = datetime.fromtimestamp(time.time() + later, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass
class Upload:
    """A resumable upload in progress: into ``target`` (``"files"`` or a store's name),
    forgotten at ``expires`` (on the emulator's clock) unless a chunk comes first."""

    target: str
    size: int
    mime_type: str
    display_name: str | None
    expires: float
    data: IO[bytes] = field(default_factory=lambda: tempfile.TemporaryFile())  # noqa: SIM115
    received: int = 0


@dataclass
class Stored:
    """An uploaded file: its resource, and its bytes in a temporary file."""

    resource: dict[str, Any]
    data: IO[bytes]


@dataclass
class Batch:
    resource: dict[str, Any]
    answers: Callable[[], dict[str, Any]]  # the output, worked out when the batch finishes
    polls_left: int


class Resources:
    """Every resource the emulator holds, behind one lock; ``answer`` serves their routes."""

    def __init__(
        self,
        generate: Callable[[RecordedRequest, str, dict[str, Any]], dict[str, Any]],
        clock: Callable[[], float],
        batch_polls: int,
        *,
        uploads: tuple[int, float],
    ) -> None:
        self._generate = generate  # (request, model, GenerateContentRequest) -> response
        self._clock = clock
        self._batch_polls = batch_polls
        self._upload_sessions, self._upload_ttl = uploads  # at once, and seconds idle
        self._lock = threading.Lock()
        self._uploads: dict[str, Upload] = {}
        self._files: dict[str, Stored] = {}
        self._caches: dict[str, tuple[dict[str, Any], float | None]] = {}
        self._batches: dict[str, Batch] = {}
        self._stores: dict[str, dict[str, Any]] = {}
        self._operations: dict[str, dict[str, Any]] = {}

    def clear(self) -> None:
        with self._lock:
            for upload in self._uploads.values():
                upload.data.close()
            for stored in self._files.values():
                stored.data.close()
            for table in (self._uploads, self._files, self._caches, self._batches):
                table.clear()
            self._stores.clear()
            self._operations.clear()

    # -- routing ----------------------------------------------------------------------------

    def answer(
        self, request: RecordedRequest, upload_url: Callable[[str, str], str]
    ) -> Answer | None:
        """Google's answer for a resource route, or None when the path is not one."""
        routes: list[tuple[re.Pattern[str], Callable[..., Answer]]] = [
            (UPLOAD, partial(self._upload, upload_url=upload_url)),
            (FILES, self._file),
            (CACHES, self._cache),
            (BATCHES, self._batch),
            (CREATE_BATCH, self._create_batch),
            (OPERATIONS, self._operation),
            (STORES, self._store),
        ]
        for pattern, handler in routes:
            match = pattern.fullmatch(request.path)
            if match is not None:
                return handler(request, match)
        return None

    # -- files and resumable uploads ----------------------------------------------------

    def _upload(
        self, request: RecordedRequest, match: re.Match[str], upload_url: Callable[[str, str], str]
    ) -> Answer:
        """A resumable upload: its start (which says where the chunks go), then its chunks."""
        command = (request.header("x-goog-upload-command") or "").replace(" ", "")
        upload_id = request.params.get("upload_id")
        self._expire_uploads()
        if command == "start" and upload_id is None:
            body = request.json if request.body else {}
            with self._lock:
                if len(self._uploads) >= self._upload_sessions:
                    return _google.error(
                        429,
                        f"Resource has been exhausted: {len(self._uploads)} uploads are "
                        "unfinished, as many as the emulator holds at once: finish them, wait "
                        f"{self._upload_ttl:g} s for idle ones to expire, or raise "
                        "GatewayEmulator(upload_sessions=...)",
                    )
                new_id = _new_id()
                self._uploads[new_id] = Upload(
                    target=f"fileSearchStores/{match['id']}" if match["id"] else "files",
                    size=int(request.header("x-goog-upload-header-content-length") or 0),
                    mime_type=request.header("x-goog-upload-header-content-type") or _OCTETS,
                    display_name=body.get("file", body).get("displayName"),
                    expires=self._clock() + self._upload_ttl,
                )
            url = upload_url(request.path, f"upload_id={new_id}&upload_protocol=resumable")
            return Answer(200, "", headers={**_ACTIVE, "x-goog-upload-url": url})
        with self._lock:
            session = self._uploads.get(upload_id or "")
            if session is not None:  # never expired while a chunk is written into its file
                session.expires = math.inf
        if session is None or command not in ("upload", "upload,finalize"):
            if session is not None:
                session.expires = self._clock() + self._upload_ttl
            return _upload_failed("no such upload session, or no upload command")
        try:
            offset = request.header("x-goog-upload-offset")
            if offset != str(session.received):
                return _upload_failed(f"the offset is {offset}, not {session.received}")
            session.received += request.copy_body(session.data)
        finally:
            session.expires = self._clock() + self._upload_ttl
        if command == "upload":
            return Answer(200, "", headers=dict(_ACTIVE))
        with self._lock:
            del self._uploads[upload_id or ""]
        if session.received != session.size:
            session.data.close()
            return _upload_failed(f"{session.received} bytes came, {session.size} were declared")
        file = self._store_file(session.data, session.mime_type, session.display_name)
        if session.target == "files":
            return Answer(200, {"file": file}, headers=dict(_FINAL))
        return Answer(200, self._document_operation(session.target, file), headers=dict(_FINAL))

    def _expire_uploads(self) -> None:
        """Forget the unfinished uploads that waited too long for a chunk, closing their files."""
        now = self._clock()
        with self._lock:
            expired = [i for i, upload in self._uploads.items() if upload.expires <= now]
            files = [self._uploads.pop(i).data for i in expired]
        for data in files:
            data.close()

    def _store_file(
        self, data: IO[bytes], mime_type: str, display_name: str | None, *, generated: bool = False
    ) -> dict[str, Any]:
        """Keep ``data`` as a file: uploaded, or ``generated`` (only those have a download URI,
        as at Google; any can be downloaded by name)."""
        data.flush()
        digest, size = hashlib.sha256(), 0
        for block in Download(data).blocks():
            digest.update(block)
            size += len(block)
        file_id = _new_id()
        stamp = now()
        resource = {
            "name": f"files/{file_id}",
            "mimeType": mime_type,
            "sizeBytes": str(size),
            "createTime": stamp,
            "updateTime": stamp,
            "expirationTime": now(48 * 3600),
            "sha256Hash": base64.b64encode(digest.hexdigest().encode()).decode(),
            "uri": f"{GOOGLE_HOST}/v1beta/files/{file_id}",
            "state": "ACTIVE",
            "source": "GENERATED" if generated else "UPLOADED",
        }
        if generated:
            resource["downloadUri"] = f"{resource['uri']}:download?alt=media"
        if display_name:
            resource["displayName"] = display_name
        with self._lock:
            self._files[file_id] = Stored(resource, data)
        return resource

    def file_bytes(self, name: str) -> bytes | None:
        """The content of the file ``files/{id}`` (for batches that read their input)."""
        with self._lock:
            stored = self._files.get(name.removeprefix("files/"))
        return None if stored is None else b"".join(Download(stored.data).blocks())

    def _file(self, request: RecordedRequest, match: re.Match[str]) -> Answer:
        file_id = match["id"]
        if file_id is None:
            with self._lock:
                files = [s.resource for s in self._files.values()]
            return _page(request, "files", files)
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            return _google.error(404, f"File files/{file_id} was not found.")
        if request.method == "GET" and match["download"]:
            headers = {"content-type": stored.resource["mimeType"]}
            return Answer(200, Download(stored.data), headers=headers)
        if request.method == "GET":
            return Answer(200, stored.resource)
        if request.method == "DELETE":
            with self._lock:
                self._files.pop(file_id, None)
            stored.data.close()
            return Answer(200, {})
        return not_served(request)

    # -- cached contents ------------------------------------------------------------------

    def _cache(self, request: RecordedRequest, match: re.Match[str]) -> Answer:
        scope, cache_id = match["scope"] or "", match["id"]
        if cache_id is None and request.method == "POST":
            body = request.json
            cache_id = _new_id()
            resource = {
                "name": f"{scope}cachedContents/{cache_id}",
                "model": body.get("model"),
                "createTime": now(),
                "updateTime": now(),
                "usageMetadata": {"totalTokenCount": _google.count_tokens(body)["totalTokens"]},
            }
            if body.get("displayName"):
                resource["displayName"] = body["displayName"]
            return Answer(200, self._keep_cache(cache_id, resource, body))
        if cache_id is None:
            with self._lock:
                live = [c for c, _ in self._caches.values()]
            return _page(request, "cachedContents", live)
        found = self.cache(f"{scope}cachedContents/{cache_id}")
        if found is None:
            return _google.error(404, f"CachedContent not found (or expired): {cache_id}")
        if request.method == "GET":
            return Answer(200, found)
        if request.method == "PATCH":
            updated = {**found, "updateTime": now()}
            return Answer(200, self._keep_cache(cache_id, updated, request.json))
        if request.method == "DELETE":
            with self._lock:
                self._caches.pop(cache_id, None)
            return Answer(200, {})
        return not_served(request)

    def _keep_cache(
        self, cache_id: str, resource: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        seconds = _seconds(body.get("ttl"))
        if seconds is None and body.get("expireTime"):
            expires = datetime.fromisoformat(body["expireTime"].replace("Z", "+00:00"))
            seconds = (expires - datetime.now(UTC)).total_seconds()
        if seconds is None and "expireTime" not in resource:
            seconds = 3600.0  # Google's default
        if seconds is not None:
            resource["expireTime"] = now(seconds)
        with self._lock:
            old = self._caches.get(cache_id)
            deadline = self._clock() + seconds if seconds is not None else (old[1] if old else None)
            self._caches[cache_id] = resource, deadline
        return resource

    def cache(self, name: str) -> dict[str, Any] | None:
        """The cached content ``name`` while it lives (on the emulator's clock)."""
        cache_id = name.rsplit("/", 1)[-1]
        with self._lock:
            found = self._caches.get(cache_id)
            if found is not None and found[1] is not None and self._clock() >= found[1]:
                del self._caches[cache_id]
                found = None
        return found[0] if found is not None and found[0]["name"].endswith(name) else None

    # -- batches ------------------------------------------------------------------------------

    def _create_batch(self, request: RecordedRequest, match: re.Match[str]) -> Answer:
        body = request.json.get("batch", {})
        model = match["model"]
        source = body.get("inputConfig", {})
        if "fileName" in source:
            content = self.file_bytes(source["fileName"])
            if content is None:
                return _google.error(404, f"File {source['fileName']} was not found.")
            lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        else:
            lines = source.get("requests", {}).get("requests", [])
        batch_id = _new_id()
        resource = {
            "name": f"batches/{batch_id}",
            "metadata": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                "model": f"models/{model}",
                "displayName": body.get("displayName") or f"batch-{batch_id}",
                "createTime": now(),
                "updateTime": now(),
                "state": "BATCH_STATE_PENDING",
                "name": f"batches/{batch_id}",
            },
        }

        def answers() -> dict[str, Any]:
            responses = [
                {
                    **{name: line[name] for name in ("key", "metadata") if name in line},
                    "response": self._generate(request, model, line.get("request", {})),
                }
                for line in lines
            ]
            if "fileName" not in source:
                return {"inlinedResponses": {"inlinedResponses": responses}}
            text = "".join(json.dumps(r) + "\n" for r in responses).encode()
            data = tempfile.TemporaryFile()  # noqa: SIM115 - kept with the file
            data.write(text)
            name = self._store_file(
                data, "application/jsonl", f"batch-{batch_id}-responses", generated=True
            )
            return {"responsesFile": name["name"]}

        with self._lock:
            self._batches[batch_id] = Batch(resource, answers, self._batch_polls)
        return Answer(200, resource)

    def _batch(self, request: RecordedRequest, match: re.Match[str]) -> Answer:
        batch_id = match["id"]
        if batch_id is None:
            with self._lock:
                batches = [b.resource for b in self._batches.values()]
            return _page(request, "operations", batches)
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            return _google.error(404, f"Batch batches/{batch_id} was not found.")
        meta = batch.resource["metadata"]
        if match["cancel"] and request.method == "POST":
            if meta["state"] in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                meta.update(state="BATCH_STATE_CANCELLED", endTime=now(), updateTime=now())
            return Answer(200, {})
        if request.method == "DELETE":
            with self._lock:
                self._batches.pop(batch_id, None)
            return Answer(200, {})
        if request.method != "GET":
            return not_served(request)
        if meta["state"] == "BATCH_STATE_PENDING":
            if batch.polls_left <= 0:
                meta.update(
                    state="BATCH_STATE_SUCCEEDED",
                    output=batch.answers(),
                    endTime=now(),
                    updateTime=now(),
                )
            batch.polls_left -= 1
        return Answer(200, batch.resource)

    # -- file search stores and operations ---------------------------------------------

    def _store(self, request: RecordedRequest, match: re.Match[str]) -> Answer:
        store_id = match["id"]
        if store_id is None and request.method == "POST":
            body = request.json if request.body else {}
            store_id = _new_id()
            store = {
                "name": f"fileSearchStores/{store_id}",
                "displayName": body.get("displayName") or store_id,
                "createTime": now(),
                "updateTime": now(),
                "activeDocumentsCount": "0",
            }
            with self._lock:
                self._stores[store_id] = store
            return Answer(200, store)
        if store_id is None:
            with self._lock:
                stores = list(self._stores.values())
            return _page(request, "fileSearchStores", stores)
        with self._lock:
            found = self._stores.get(store_id)
        if found is None:
            message = f"FileSearchStore fileSearchStores/{store_id} was not found."
            return _google.error(404, message)
        if match["import"] and request.method == "POST":
            name = request.json.get("fileName", "")
            with self._lock:
                stored = self._files.get(name.removeprefix("files/"))
            if stored is None:
                return _google.error(404, f"File {name} was not found.")
            return Answer(200, self._document_operation(found["name"], stored.resource))
        if request.method == "GET":
            return Answer(200, found)
        if request.method == "DELETE":
            with self._lock:
                self._stores.pop(store_id, None)
            return Answer(200, {})
        return not_served(request)

    def _document_operation(self, store: str, file: dict[str, Any]) -> dict[str, Any]:
        """A store takes in ``file`` as a document: its operation, done when first read."""
        document = f"{store}/documents/{file['name'].removeprefix('files/')}"
        name = f"{store}/upload/operations/{_new_id()}"
        operation = {"name": name, "done": False, "metadata": {"document": document}}
        with self._lock:
            self._operations[name] = {
                "name": name,
                "done": True,
                "response": {
                    "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.UploadToFileSearchStoreResponse",
                    "parent": store,
                    "documentName": document,
                },
            }
            found = self._stores.get(store.removeprefix("fileSearchStores/"))
            if found is not None:
                found["activeDocumentsCount"] = str(int(found.get("activeDocumentsCount", 0)) + 1)
        return operation

    def _operation(self, request: RecordedRequest, match: re.Match[str]) -> Answer:
        with self._lock:
            operation = self._operations.get(match["name"])
        if operation is None or request.method != "GET":
            return _google.error(404, f"Operation {match['name']} was not found.")
        return Answer(200, operation)

    def stores(self, names: list[str]) -> list[str]:
        """Of ``names``, the file search stores that do not exist."""
        with self._lock:
            return [n for n in names if n.removeprefix("fileSearchStores/") not in self._stores]


class Download:
    """A stored file's bytes, read in blocks where they are (``_render`` streams them)."""

    def __init__(self, data: IO[bytes]) -> None:
        self._fd = data.fileno()

    def blocks(self) -> Iterator[bytes]:
        offset = 0
        while block := os.pread(self._fd, 2**16, offset):
            offset += len(block)
            yield block


def _page(request: RecordedRequest, key: str, items: list[dict[str, Any]]) -> Answer:
    """A page of a listing, which only ``GET`` reads."""
    if request.method != "GET":
        return not_served(request)
    size = int(request.params.get("pageSize") or PAGE_SIZE)
    start = int(request.params.get("pageToken") or 0)
    body: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        body["nextPageToken"] = str(start + size)
    return Answer(200, body)


def _seconds(ttl: Any) -> float | None:
    """A duration as Google writes it (``"3600s"``), or None."""
    try:
        return float(ttl[:-1]) if isinstance(ttl, str) and ttl.endswith("s") else None
    except ValueError:
        return None


def _upload_failed(why: str) -> Answer:
    answer = _google.error(400, f"Failed to process the upload: {why}.")
    answer.headers.update(_FINAL)
    return answer


def not_served(request: RecordedRequest) -> Answer:
    """404 for a route the emulator does not serve, saying so (not Google's own 404)."""
    message = f"the cfgenai gateway emulator does not serve {request.method} {request.path}"
    return _google.error(404, message)
