"""Where settings come from (environment > secret files > ``.env``), read once into a ``Reading``."""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import EllipsisType
from typing import Any, cast

from pydantic import AliasChoices, AliasGenerator, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, DotEnvSettingsSource, EnvSettingsSource

from . import _errors, _rotation
from ._checks import BEARER
from ._secrets import printable

ENV_FILE = "CF_AIG_ENV_FILE"
SECRETS_DIR = "CF_AIG_SECRETS_DIR"
PREFIX = "CF_AIG_"
ENCODING = "utf-8-sig"  # UTF-8, tolerating the byte-order mark some Windows editors write
# A field's variable, unless it names its own: CF_AIG_ and its name in capitals.
ENV_NAMES = AliasGenerator(validation_alias=lambda name: AliasChoices(PREFIX + name.upper()))


def names(field: FieldInfo) -> tuple[str, ...]:
    """A field's variables, the first one winning."""
    alias = field.validation_alias
    return tuple(map(str, alias.choices)) if isinstance(alias, AliasChoices) else ()


def is_secret(field: FieldInfo) -> bool:
    """Whether ``field`` holds a credential."""
    return field.annotation == SecretStr | None


@functools.cache
def variables(settings_cls: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Each field's variables (the nested gateway options' too), the first one winning."""
    found: dict[str, FieldInfo] = {}
    for name, info in settings_cls.model_fields.items():
        model = info.annotation
        nested = isinstance(model, type) and issubclass(model, BaseModel)
        found |= cast(type[BaseModel], model).model_fields if nested else {name: info}
    return {name: names(info) for name, info in found.items() if names(info)}


@functools.cache
def _known(settings_cls: type[BaseModel]) -> frozenset[str]:
    """Every variable of ``settings_cls``, and its ``_FILE`` twin."""
    found = [n for names in variables(settings_cls).values() for n in names]
    return frozenset(found + [f"{n}_FILE" for n in found])


def _cleaned(variables: Mapping[str, str | None], wanted: Collection[str]) -> dict[str, str]:
    """The ``wanted`` and ``CF_AIG_*`` variables in capitals, stripped, blank ones left out (a
    loop: no app secret lingers in a comprehension's locals, which error reporters record)."""
    kept = {}
    for name, value in variables.items():
        upper = name.upper()
        if value and value.strip() and (upper in wanted or upper.startswith(PREFIX)):
            kept[upper] = value.strip()
    return kept


@dataclass(frozen=True)
class Source:
    """The variables one place holds (names in capitals), and the file holding each secret."""

    label: str  # "environment", "secret files", ".env file PATH" or "settings"
    values: Mapping[str, Any] = field(repr=False)  # secrets among them
    paths: Mapping[str, Path] = field(default_factory=dict)

    def where(self, name: str) -> str:
        """Where the variable ``name`` was found, for messages and ``cfgenai doctor``."""
        return f"file {self.paths[name]}" if name in self.paths else self.label


def _secret_files(
    settings_cls: type[BaseModel], environment: Mapping[str, str], problems: list[str]
) -> Source:
    """Each credential held in a file: its ``{NAME}_FILE``, else a file named after it (in any
    case) in ``CF_AIG_SECRETS_DIR``; what is wrong with them goes to ``problems``."""
    fields = {n: f for f in settings_cls.model_fields.values() if is_secret(f) for n in names(f)}
    chosen: dict[str, tuple[Path, str]] = {}  # variable -> its file, and what named it
    for name in (n for n in fields if f"{n}_FILE" in environment):
        if name in environment:
            problems.append(
                f"{name} and {name}_FILE: both are set; set one: {name}_FILE names a file "
                f"holding the value of {name}"
            )
        else:
            chosen[name] = Path(environment[f"{name}_FILE"]), f"{name}_FILE"
    folder = environment.get(SECRETS_DIR)
    if folder is not None and not Path(folder).is_dir():
        problems.append(f"{SECRETS_DIR}: {printable(folder)} is not a folder; unset it or fix it")
    elif folder is not None:
        for name in (n for n in fields if n not in chosen and n not in environment):
            files = (p for n in (name, name.lower()) if (p := Path(folder, n)).exists())
            if (path := next(files, None)) is not None:
                chosen[name] = path, SECRETS_DIR
    values = {}
    for name, (path, variable) in chosen.items():
        bearer = BEARER in fields[name].metadata
        if (value := _rotation.read(path, variable, problems, bearer)) is not None:
            values[name] = value
    return Source("secret files", values, {n: chosen[n][0] for n in values})


@dataclass(frozen=True)
class Found:
    value: Any = field(repr=False)  # text, but for the values of settings already made (kept)
    name: str  # the variable that held it
    source: str  # "environment", "file PATH" or ".env file PATH"
    path: Path | None = None  # the file holding a secret


@dataclass(frozen=True)
class Reading:
    """One look at the environment, the secret files and the ``.env`` file."""

    sources: tuple[Source, ...]  # highest precedence first
    problems: tuple[str, ...] = ()  # with the files themselves
    env_file: Path | None = None  # the .env file looked for (None: none)

    def find(self, names: Sequence[str]) -> Found | None:
        """The value of the first of ``names`` set, source by source."""
        for source in self.sources:
            for name in (n for n in names if n in source.values):
                return Found(source.values[name], name, source.where(name), source.paths.get(name))
        return None

    def data(self, settings_cls: type[BaseModel]) -> dict[str, Any]:
        """The values found for ``settings_cls`` and the gateway options, by field."""
        hits = {k: self.find(found) for k, found in variables(settings_cls).items()}
        return {k: hit.value for k, hit in hits.items() if hit is not None}

    def warnings(
        self, settings_cls: type[BaseModel], aliases: Mapping[str, Sequence[str]]
    ) -> list[str]:
        """Unknown ``CF_AIG_*`` names, with the closest known one; names of one setting
        (``aliases``: setting -> its names, the first winning) set to different values."""
        known = _known(settings_cls) | {ENV_FILE, SECRETS_DIR, "CF_AIG_LIVE"}  # pytest's
        lines = []
        for source in self.sources:
            for name in sorted(n for n in source.values if n.startswith(PREFIX) and n not in known):
                close = _errors.closest(name, [k for k in known if k.startswith(PREFIX)], PREFIX)
                hint = f"did you mean {close}?" if close else "`cfgenai env` lists the variables"
                lines.append(
                    f"{printable(name)} ({source.where(name)}): not a cfgenai variable, so it is "
                    f"ignored; {hint}"
                )
        for names in aliases.values():
            set_to = {n: v for n in names for s in reversed(self.sources) if (v := s.values.get(n))}
            if len(set(set_to.values())) > 1:
                others = " and ".join(n for n in names if n in set_to)
                lines.append(
                    f"{others} are both set and differ; using {cast(Found, self.find(names)).name}."
                    " Unset the one you do not mean."
                )
        return lines


def read(
    settings_cls: type[BaseSettings], env_file: Path | str | EllipsisType | None = ...
) -> Reading:
    """The environment, the secret files, then the ``.env`` file ``env_file`` (by default
    ``CF_AIG_ENV_FILE``: ``.env`` when unset, none when empty; not read unless UTF-8)."""
    problems: list[str] = []
    if isinstance(env_file, EllipsisType):
        env_file = os.environ.get(ENV_FILE, ".env").strip() or None
        if env_file and ENV_FILE in os.environ and not Path(env_file).is_file():
            problems.append(
                f"{ENV_FILE}: names a file that does not exist or is not a file; "
                "point it at your .env file, or set it empty to read no file"
            )
    path = None if env_file is None else Path(env_file)
    wanted = _known(settings_cls)
    try:  # pydantic-settings' own sources read .env and the environment (no file: nothing)
        # Never a named local: the whole file is there, the app's own secrets too.
        dotenv = _cleaned(DotEnvSettingsSource(settings_cls, path, ENCODING).env_vars, wanted)
    except UnicodeDecodeError as exc:  # python-dotenv decodes the whole file at once
        line = exc.object[: exc.start].count(b"\n") + 1
        problems.append(
            f"the .env file {Path(str(path)).absolute()}: the byte at position {exc.start} (line "
            f"{line}) is not UTF-8; save the file as UTF-8"
        )
        dotenv = {}
    environment = _cleaned(EnvSettingsSource(settings_cls).env_vars, wanted)
    files = _secret_files(settings_cls, environment, problems)
    sources = (Source("environment", environment), files, Source(f".env file {path}", dotenv))
    return Reading(sources, tuple(problems), path)


def describe_env_file(path: Path | None) -> str:
    """Which ``.env`` file was looked for (``Reading.env_file``), and whether it was found."""
    if path is None:
        return f"none ({ENV_FILE} is empty)"
    return f"{printable(str(path.absolute()))} ({'found' if path.is_file() else 'not found'})"
