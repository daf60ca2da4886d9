"""The one exception a configuration problem raises, and the one way pydantic's errors become it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class ConfigError(ValueError):
    """Every problem found in the configuration, each naming the variable to fix.

    ``problems`` holds one line per problem; ``str()`` lists them all. No message
    ever contains a secret value.
    """

    __module__ = "cfgenai"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        count = len(self.problems)
        heading = f"cfgenai configuration has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([heading, *(f"  - {p}" for p in self.problems)]))


def problems(exc: ValidationError, label: Callable[[tuple[int | str, ...]], str]) -> list[str]:
    """One line per problem pydantic found, each starting with what ``label`` calls the value
    at its location (a variable, an option); a check's own message is kept as it is."""
    lines: list[str] = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            lines += cause.problems
            continue
        message = str(cause) if cause is not None else error["msg"]
        lines.append(f"{label(error['loc'])}: {message}" if error["loc"] else message)
    return lines


def unknown_names(
    given: Iterable[str], known: Collection[str], what: str, otherwise: str
) -> list[str]:
    """A line for each of ``given`` that is not ``known``: the closest known name, else
    ``otherwise``."""
    unknown = [name for name in given if name not in known]
    if not unknown:
        return []
    import difflib  # only for a mistake

    lines = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        lines.append(f"{name}: not a {what}; {f'did you mean {close[0]}?' if close else otherwise}")
    return lines
