"""Secrets that live in files, as Docker and Kubernetes mount them, picked up when rotated.

A running client asks :func:`current` for a file's secret on each request; the file is looked
at (one ``stat``) at most once a second, and read again only when it changed (Kubernetes swaps
a mounted secret atomically, so a changed file is whole). A changed file that no longer holds a
secret (empty, several lines...) leaves the last good value in use.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from ._sources import secret_file

CHECK_EVERY = 1.0  # seconds between two looks at one file

_lock = threading.Lock()
# path -> (when it was last looked at, its signature then, the secret)
_seen: dict[Path, tuple[float, tuple[int, int, int], str]] = {}


def current(path: Path, first: str) -> str:
    """The secret in ``path`` now; ``first`` is the one read when the settings were."""
    now = time.monotonic()
    seen = _seen.get(path)
    if seen is not None and now - seen[0] < CHECK_EVERY:
        return seen[2]
    with _lock:
        seen = _seen.get(path)
        if seen is not None and now - seen[0] < CHECK_EVERY:
            return seen[2]
        value = seen[2] if seen is not None else first
        try:
            stat = os.stat(path)
        except OSError:  # between two swaps: keep the last one
            _seen[path] = now, (0, 0, 0), value
            return value
        signature = stat.st_ino, stat.st_mtime_ns, stat.st_size
        if seen is None or signature != seen[1]:
            value = secret_file(path, "", []) or value
        _seen[path] = now, signature, value
        return value
