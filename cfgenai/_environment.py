"""Where settings come from, read raw: the process environment and the ``.env`` file.

pydantic-settings reads both for the settings themselves; this module reads them again for
what it cannot say: which file was looked for, whether it is UTF-8, which ``CF_AIG_*``
names are unknown, and which aliases disagree.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from ._errors import ConfigError

ENV_FILE = "CF_AIG_ENV_FILE"
PREFIX = "CF_AIG_"
ENCODING = "utf-8-sig"  # UTF-8, tolerating the byte-order mark some Windows editors write

# (source, {NAME: value}) pairs, highest precedence first.
Layers = list[tuple[str, dict[str, str]]]


def env_file_from_environment() -> tuple[Path | None, list[str]]:
    """The ``.env`` file to read (``CF_AIG_ENV_FILE``, default ``.env``) and any problem
    with it; a file that is not UTF-8 is a problem and is not read."""
    name = os.environ.get(ENV_FILE)
    if name is not None and not name.strip():
        return None, []
    path = Path(name.strip()) if name is not None else Path(".env")
    if name is not None and not path.is_file():
        return None, [
            f"{ENV_FILE}: names a file that does not exist or is not a file; "
            "point it at your .env file, or set it empty to read no file"
        ]
    try:
        read_env_file(path)
    except ConfigError as exc:
        return None, list(exc.problems)
    return path, []


def describe_env_file() -> str:
    """Which ``.env`` file is looked for, and whether it was found (for ``cfgenai doctor``)."""
    name = os.environ.get(ENV_FILE)
    if name is not None and not name.strip():
        return f"none ({ENV_FILE} is empty)"
    path = Path(name.strip() if name is not None else ".env").absolute()
    return f"{printable(str(path))} ({'found' if path.is_file() else 'not found'})"


def printable(text: str) -> str:
    """``text``, with control characters and undecodable bytes escaped, safe to print."""
    return text if text.isprintable() else ascii(text)[1:-1]


def read_env_file(path: Path | None) -> dict[str, str]:
    """The file's variables, names in capitals, blank values left out ({} if there is no file).

    Raises ``ConfigError`` naming the file and the first byte that is not UTF-8."""
    if path is None or not path.is_file():
        return {}
    data = path.read_bytes()
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [
                f"the .env file {path.absolute()}: the byte at position {exc.start} (line "
                f"{line}) is not UTF-8; save the file as UTF-8"
            ]
        ) from None
    from dotenv import dotenv_values

    values = dotenv_values(stream=io.StringIO(text))
    return {k.upper(): v.strip() for k, v in values.items() if v and v.strip()}


def layers(path: Path | None) -> Layers:
    """The environment, then the ``.env`` file (unread if it is not UTF-8)."""
    environment = {k.upper(): v.strip() for k, v in os.environ.items() if v.strip()}
    try:
        dotenv = read_env_file(path)
    except ConfigError:
        dotenv = {}
    return [("environment", environment), (f".env file {path}", dotenv)]


def unknown_variables(found: Layers, known: Iterable[str]) -> list[str]:
    """A line for each ``CF_AIG_*`` name that cfgenai does not read, with the closest it does."""
    known = {*known, ENV_FILE}
    lines = []
    for source, values in found:
        for name in sorted(n for n in values if n.startswith(PREFIX) and n not in known):
            lines.append(
                f"{printable(name)} ({source}): not a cfgenai variable, so it is ignored; "
                + _hint(name, known)
            )
    return lines


def _hint(name: str, known: Iterable[str]) -> str:
    tails = {k.removeprefix(PREFIX): k for k in known if k.startswith(PREFIX)}
    import difflib

    close = difflib.get_close_matches(name.removeprefix(PREFIX), tails, n=1, cutoff=0.6)
    if close:
        return f"did you mean {tails[close[0]]}?"
    return "`cfgenai env` lists the variables"


def alias_conflicts(found: Layers, aliases: Mapping[str, Sequence[str]]) -> list[str]:
    """A line for each setting whose names (e.g. CF_AIG_TOKEN, CLOUDFLARE_GATEWAY_TOKEN) are
    set to different values. ``aliases`` maps a setting to its names, the first one winning."""
    lines = []
    for names in aliases.values():
        set_to = {n: v for n in names for _, values in reversed(found) if (v := values.get(n))}
        if len(set(set_to.values())) > 1:
            used = next(n for _, values in found for n in names if n in values)
            others = " and ".join(n for n in names if n in set_to)
            lines.append(
                f"{others} are both set and differ; using {used}. Unset the one you do not mean."
            )
    return lines
