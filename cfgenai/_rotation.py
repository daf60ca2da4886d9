"""Secrets that live in files, as Docker and Kubernetes mount them: read, and read again when
rotated.

:func:`read` reads a secret file for the settings and remembers what it read; a running
client asks :func:`current` for the secret on each request, and the file is looked at (one
``stat``) at most once a second, and read again only when it changed (Kubernetes swaps a
mounted secret atomically, so a changed file is whole). A changed file that no longer holds a
secret (empty, several lines...) leaves the last good one in use.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ._secrets import printable

MAX_SECRET_FILE = 64 * 1024
CHECK_EVERY = 1.0  # seconds between two looks at one file

_lock = threading.Lock()
# path -> (when it was last looked at, its signature then, the secret)
_seen: dict[Path, tuple[float, tuple[int, int, int], str]] = {}


@dataclass(frozen=True)
class Secret:
    """A credential as the settings read it, and the file it came from, if any: its
    :meth:`value` is what the file holds now. Its repr shows no secret."""

    first: str
    path: Path | None = None

    def value(self) -> str:
        return self.first if self.path is None else current(self.path, self.first)

    def __repr__(self) -> str:
        return f"Secret(from {self.path})" if self.path else "Secret(...)"


def current(path: Path, first: str) -> str:
    """The secret in ``path`` now; ``first`` is the one the settings read."""
    now = time.monotonic()
    seen = _seen.get(path)
    if seen is not None and now - seen[0] < CHECK_EVERY:
        return seen[2]
    with _lock:
        seen = _seen.get(path)
        if seen is not None and now - seen[0] < CHECK_EVERY:
            return seen[2]
        value = seen[2] if seen is not None else first
        sig = signature(path)
        if sig is not None and (seen is None or sig != seen[1]):
            value = _read(path, "", []) or value
        _seen[path] = now, sig or (0, 0, 0), value
        return value


def read(path: Path, variable: str, problems: list[str]) -> str | None:
    """The secret a file holds (one trailing newline stripped, nothing else), or None with
    the problem added: it names the variable and the path, never the content."""
    sig = signature(path)
    value = _read(path, variable, problems)
    if value is not None and sig is not None:  # so that no request reads it again
        with _lock:
            _seen[path] = time.monotonic(), sig, value
    return value


def _read(path: Path, variable: str, problems: list[str]) -> str | None:
    where = f"{variable}: {printable(str(path))}"
    try:
        if path.stat().st_size > MAX_SECRET_FILE:
            problems.append(f"{where} is larger than 64 KiB, so it holds no secret")
            return None
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{where} does not exist; point it at the file holding the secret")
        return None
    except IsADirectoryError:
        problems.append(f"{where} is a folder; point it at the file holding the secret")
        return None
    except OSError as exc:
        problems.append(f"{where} cannot be read ({exc.strerror or type(exc).__name__})")
        return None
    data = data.removesuffix(b"\n").removesuffix(b"\r")
    try:
        value = data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{where} is not UTF-8 text; save the secret as UTF-8")
        return None
    if not value:
        problems.append(f"{where} is empty; put the secret in it")
    elif "\0" in value or "\n" in value or "\r" in value:
        problems.append(f"{where} holds a NUL or more than one line; put the secret alone in it")
    else:
        return value
    return None


def signature(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file (its inode, modification time and size), or None."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
