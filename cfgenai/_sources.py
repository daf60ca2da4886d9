"""Where settings come from: the process environment, secret files, then the ``.env`` file.

:func:`read` takes one look at them (the ``.env`` file is opened once) and gives a
:class:`Reading`: every later step (the settings' values through the pydantic-settings source
below, the warnings, ``cfgenai doctor``'s sources, ``cfgenai gateway``'s defaults) works from it,
so one variable's precedence is decided in one place, :meth:`Reading.find`: the environment,
then a secret's ``{NAME}_FILE``, then the ``CF_AIG_SECRETS_DIR`` folder, then ``.env``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from . import _rotation
from ._secrets import printable

ENV_FILE = "CF_AIG_ENV_FILE"
SECRETS_DIR = "CF_AIG_SECRETS_DIR"
PREFIX = "CF_AIG_"
ENCODING = "utf-8-sig"  # UTF-8, tolerating the byte-order mark some Windows editors write


@dataclass(frozen=True)
class Found:
    value: str
    name: str  # the variable that held it
    source: str  # "environment", or ".env file PATH"


@dataclass(frozen=True)
class Reading:
    """What one look at the environment and the ``.env`` file found: each layer's variables
    (names in capitals, values stripped, blank ones left out), highest precedence first."""

    layers: tuple[tuple[str, Mapping[str, str]], ...]
    env_file: Path | None = None  # the file looked for (None: none)
    problems: tuple[str, ...] = ()  # with the files themselves
    key: tuple[object, ...] = field(default=(), compare=False)
    files: Mapping[str, Path] = field(default_factory=dict)  # a secret's variable -> its file

    def find(self, names: Sequence[str]) -> Found | None:
        """The value of the first of ``names`` set, layer by layer: an alias in the
        environment beats the main name in the ``.env`` file."""
        for source, values in self.layers:
            for name in names:
                if name in values:
                    return Found(values[name], name, source)
        return None

    def warnings(self, aliases: Mapping[str, Sequence[str]], known: Iterable[str]) -> list[str]:
        """Unknown ``CF_AIG_*`` names, with the closest known one; names of one setting
        (``aliases``: setting -> its names, the first winning) set to different values."""
        known = {*known, *(f"{n}_FILE" for n in known), ENV_FILE, SECRETS_DIR}
        lines = [
            f"{printable(name)} ({source}): not a cfgenai variable, so it is ignored; "
            + _hint(name, known)
            for source, values in self.layers
            for name in sorted(n for n in values if n.startswith(PREFIX) and n not in known)
        ]
        for names in aliases.values():
            set_to = {n: v for n in names for _, vs in reversed(self.layers) if (v := vs.get(n))}
            if len(set(set_to.values())) > 1:
                used = self.find(names)
                assert used is not None
                others = " and ".join(n for n in names if n in set_to)
                lines.append(
                    f"{others} are both set and differ; using {used.name}. Unset the one you "
                    "do not mean."
                )
        return lines


def read(
    env_file: Path | str | EllipsisType | None = ...,
    *,
    relevant: Iterable[str] = (),
    secrets: Iterable[str] = (),
) -> Reading:
    """The environment, the files holding ``secrets`` (variable names), then the ``.env``
    file: ``env_file``, by default the one ``CF_AIG_ENV_FILE`` names (``.env`` when unset,
    none when empty). A ``.env`` file that is not UTF-8 is a problem and is not read. ``key``
    identifies what was read for the variables ``relevant`` (and every ``CF_AIG_*`` one):
    equal keys, equal settings."""
    environment = {k.upper(): v.strip() for k, v in os.environ.items() if v.strip()}
    problems: list[str] = []
    if isinstance(env_file, EllipsisType):
        path = _named_env_file()
        if path is not None and ENV_FILE in os.environ and not path.is_file():
            problems.append(
                f"{ENV_FILE}: names a file that does not exist or is not a file; "
                "point it at your .env file, or set it empty to read no file"
            )
            path = None
    else:
        path = Path(env_file) if env_file is not None else None
    dotenv = _read_env_file(path, problems) if path is not None else {}
    files = _secret_files(environment, list(secrets), problems)
    secret_layers = tuple((f"file {p}", {name: value}) for name, (p, value) in files.items())
    relevant = {*relevant, ENV_FILE, SECRETS_DIR}
    chosen = tuple((k, v) for k, v in environment.items() if k in relevant or k.startswith(PREFIX))
    return Reading(
        layers=(("environment", environment), *secret_layers, (f".env file {path}", dotenv)),
        env_file=path,
        problems=tuple(problems),
        key=(
            chosen,
            tuple(dotenv.items()),
            tuple(files.items()),
            str(path and path.absolute()),
            tuple(problems),
        ),
        files={name: p for name, (p, _) in files.items()},
    )


def _secret_files(
    environment: Mapping[str, str], secrets: list[str], problems: list[str]
) -> dict[str, tuple[Path, str]]:
    """Each secret variable held in a file: its ``{NAME}_FILE``, else a file named after it
    (in capitals or not) in the ``CF_AIG_SECRETS_DIR`` folder, as Docker and Kubernetes mount
    them. Setting both ``NAME`` and ``NAME_FILE`` is a problem (Docker's convention)."""
    found: dict[str, tuple[Path, str]] = {}
    for name in secrets:
        named = environment.get(f"{name}_FILE")
        if named is None:
            continue
        if name in environment:
            problems.append(
                f"{name} and {name}_FILE: both are set; set one: {name}_FILE names a file "
                f"holding the value of {name}"
            )
            continue
        if (value := _rotation.read(Path(named), f"{name}_FILE", problems)) is not None:
            found[name] = Path(named), value
    folder = environment.get(SECRETS_DIR)
    if folder is None:
        return found
    if not Path(folder).is_dir():
        problems.append(f"{SECRETS_DIR}: {printable(folder)} is not a folder; unset it or fix it")
        return found
    for name in secrets:
        if name in found or name in environment:
            continue
        path = next((p for n in (name, name.lower()) if (p := Path(folder, n)).exists()), None)
        if path is not None and (value := _rotation.read(path, SECRETS_DIR, problems)) is not None:
            found[name] = path, value
    return found


def _named_env_file() -> Path | None:
    """The file ``CF_AIG_ENV_FILE`` names, ``.env`` when it is unset, None when it is empty."""
    name = os.environ.get(ENV_FILE, ".env").strip()
    return Path(name) if name else None


def _read_env_file(path: Path, problems: list[str]) -> dict[str, str]:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return {}
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        problems.append(
            f"the .env file {path.absolute()}: the byte at position {exc.start} (line "
            f"{line}) is not UTF-8; save the file as UTF-8"
        )
        return {}
    from dotenv import dotenv_values

    values = dotenv_values(stream=io.StringIO(text))
    return {k.upper(): v.strip() for k, v in values.items() if v and v.strip()}


def describe_env_file() -> str:
    """Which ``.env`` file is looked for, and whether it was found (for ``cfgenai doctor``)."""
    path = _named_env_file()
    if path is None:
        return f"none ({ENV_FILE} is empty)"
    return f"{printable(str(path.absolute()))} ({'found' if path.is_file() else 'not found'})"


def _hint(name: str, known: Iterable[str]) -> str:
    tails = {k.removeprefix(PREFIX): k for k in known if k.startswith(PREFIX)}
    import difflib

    close = difflib.get_close_matches(name.removeprefix(PREFIX), tails, n=1, cutoff=0.6)
    return f"did you mean {tails[close[0]]}?" if close else "`cfgenai env` lists the variables"


class ReadingSource(PydanticBaseSettingsSource):
    """pydantic-settings' source for one :class:`Reading`: each field's value under the first
    of its variables that is set (``variables``: field -> names); the fields of ``nested``
    (a field holding a model, e.g. the gateway options) are gathered into a dict for it."""

    def __init__(
        self,
        settings_cls: Any,
        reading: Reading,
        variables: Mapping[str, Sequence[str]],
        nested: tuple[str, Sequence[str]],
    ) -> None:
        super().__init__(settings_cls)
        self._reading, self._variables, self._nested = reading, variables, nested

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        found = self._reading.find(self._variables.get(field_name, ()))
        return (found and found.value), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        holder, inner = self._nested
        for name, names in self._variables.items():
            found = self._reading.find(names)
            if found is not None:
                (values.setdefault(holder, {}) if name in inner else values)[name] = found.value
        return values
