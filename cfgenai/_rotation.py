"""Secrets in files, as Docker and Kubernetes mount them: read safely (``load``), and read again
when rotated, never half-written (a changed value is taken once seen the same twice in a row)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ._checks import secret
from ._secrets import printable

MAX_FILE = 64 * 1024
CHECK_EVERY = 1.0  # seconds between two looks at one file
clock: Callable[[], float] = time.monotonic  # what CHECK_EVERY is measured with (tests set theirs)
FIX = "point it at the file holding the secret"

Signature = tuple[int, int, int]  # a file's inode, modification time (ns) and size
Check = Callable[[str], str | None]  # the settings' check: the value kept, None, or ValueError

log = logging.getLogger("cfgenai")
# Without blocking: opening a FIFO would wait for a writer.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
_FLAGS |= getattr(os, "O_BINARY", 0)
# By the file type letter of `ls -l` (stat.filemode).
_SPECIAL = {"p": "FIFO (named pipe)", "c": "character device", "b": "block device", "s": "socket"}


class Unusable(ValueError):
    """Why a file holds nothing usable, and the fix: the end of a sentence naming the file."""


@dataclass(frozen=True)
class Secret:
    """A credential as the settings read it, and its file: ``value`` is what it holds now."""

    first: str = field(repr=False)
    path: Path | None = None
    bearer: bool = False  # sent after "Bearer ", which a rotated value must then not start with

    def value(self) -> str:
        """The secret now: its file is looked at most every ``CHECK_EVERY`` seconds; a usable
        change is taken, an unusable one logged once."""
        if self.path is None:
            return self.first
        if (watch := _watches.get(self.path)) is None:  # settings unpickled in a new process
            check = functools.partial(secret, bearer=self.bearer)
            watch = _Watch(self.path, self.first, checks={"secret file": check})
            watch = _watches.setdefault(self.path, watch)
        return watch.current()


@dataclass(eq=False, repr=False)
class _Watch:
    """One secret file, as every running client sees it."""

    path: Path
    value: str  # the last good secret, the one sent
    handled: Signature | None = None  # the file as last taken or warned about
    checks: dict[str, Check] = field(default_factory=dict)  # its variables' checks
    seen: tuple[Signature | None, str, bool] | None = None  # the last look at a changed file
    looked: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> str:
        now = clock()
        if now - self.looked >= CHECK_EVERY:
            with self.lock:
                if now - self.looked >= CHECK_EVERY:  # no other thread just looked
                    self.looked = now
                    self._look()
        return self.value

    def _look(self) -> None:
        if (sig := signature(self.path)) == self.handled:
            self.seen = None  # unchanged: one stat, nothing read
            return
        try:
            found = sig, _usable(load(self.path, FIX)[1], self.checks.values()), True
        except Unusable as exc:
            found = sig, str(exc), False
        self.consider(found)

    def consider(self, found: tuple[Signature | None, str, bool]) -> None:
        """One look at the changed file: its value taken once it was seen the same twice."""
        if found != self.seen:
            self.seen = found  # seen once: it may be being written
            return
        self.handled, self.seen = found[0], None
        if found[2]:
            self.value = found[1]
        else:
            log.warning(
                "%s: %s %s; cfgenai keeps sending the last good secret until the file holds a "
                "usable one",
                ", ".join(self.checks),
                printable(str(self.path)),
                found[1],
            )


_watches: dict[Path, _Watch] = {}


def read(path: Path, variable: str, problems: list[str], bearer: bool) -> str | None:
    """The secret in the file, or None with the problem added (naming ``variable`` and the path,
    never the content); each rotated value gets the settings' check (``bearer``: a token's)."""
    check = functools.partial(secret, bearer=bearer)
    try:
        sig, data = load(path, FIX)
        value = _secret(data)
    except Unusable as exc:
        problems.append(f"{variable}: {printable(str(path))} {exc}")
        return None
    with contextlib.suppress(Unusable):  # refused by the settings, which say why: not watched
        watch = _watches.setdefault(path, _Watch(path, kept := _usable(data, [check]), sig))
        with watch.lock:
            watch.checks[variable] = check
            if watch.handled != sig:  # changed since it was watched: this read is one look
                watch.looked = clock()
                watch.consider((sig, kept, True))
    return value


def load(path: Path, fix: str) -> tuple[Signature, bytes]:
    """The signature and bytes of the regular file ``path``; raises ``Unusable`` ending
    with ``fix`` when it is no such file, or larger than 64 KiB."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise Unusable(f"does not exist; {fix}") from None
    except OSError as exc:  # a socket (ENXIO), or a folder on Windows
        with contextlib.suppress(OSError):
            if not stat.S_ISREG(mode := os.stat(path).st_mode):
                raise Unusable(_kind(mode, fix)) from None
        raise Unusable(_unreadable(exc)) from None
    try:
        info = os.fstat(fd)  # of the file opened: a path swapped meanwhile changes nothing
        if not stat.S_ISREG(info.st_mode):
            raise Unusable(_kind(info.st_mode, fix))
        with open(fd, "rb", closefd=False) as file:
            data = file.read(MAX_FILE + 1)  # to the end: it may have grown since
    except OSError as exc:
        raise Unusable(_unreadable(exc)) from None
    finally:
        os.close(fd)
    if max(info.st_size, len(data)) > MAX_FILE:
        raise Unusable(f"is larger than 64 KiB; {fix}")
    return (info.st_ino, info.st_mtime_ns, info.st_size), data


def signature(path: Path) -> Signature | None:
    """What tells a changed file (its inode, modification time and size), or None."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns, info.st_size


def _secret(data: bytes) -> str:
    """The secret in a file's bytes: one trailing newline stripped, nothing else."""
    try:
        value = data.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        raise Unusable("is not UTF-8 text; save the secret as UTF-8") from None
    if not value:
        raise Unusable("is empty; put the secret in it")
    if "\0" in value or "\n" in value or "\r" in value:
        raise Unusable("holds a NUL or more than one line; put the secret alone in it")
    return value


def _usable(data: bytes, checks: Iterable[Check]) -> str:
    """The secret in ``data`` as the settings would keep it, or ``Unusable``."""
    value: str | None = _secret(data)
    try:
        for check in checks:
            value = check(value) if value is not None else None
    except ValueError as exc:
        raise Unusable(str(exc)) from None
    if value is None:
        raise Unusable("holds only spaces; put the secret in it")
    return value


def _kind(mode: int, fix: str) -> str:
    if stat.S_ISDIR(mode):
        return f"is a folder; {fix}"
    kind = _SPECIAL.get(stat.filemode(mode)[0], "special file")
    return f"is a {kind}, not a regular file; {fix}"


def _unreadable(exc: OSError) -> str:
    return f"cannot be read ({exc.strerror or type(exc).__name__})"
