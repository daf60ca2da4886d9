"""The one exception a configuration problem raises."""

from __future__ import annotations

from collections.abc import Iterable


class ConfigError(ValueError):
    """Every problem found in the configuration, each naming the variable to fix.

    ``problems`` holds one line per problem; ``str()`` lists them all. No message
    ever contains a secret value.
    """

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        count = len(self.problems)
        heading = f"cfgenai configuration has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([heading, *(f"  - {p}" for p in self.problems)]))
