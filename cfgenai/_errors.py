"""Every exception cfgenai raises, and the one way pydantic's errors become a ``ConfigError``.

Public ones are imported from the module in brackets; those on google-genai's and google-auth's
errors are in ``cfgenai._google_errors``, since google-genai takes a second to import and
``import cfgenai`` must not pay it::

    ValueError
    └── ConfigError            [cfgenai] every configuration problem, each naming what to fix
    Exception
    └── CloudflareAPIError     [cfgenai.logs] Cloudflare's REST API refused a logs or feedback call
    google.genai.errors.APIError
    ├── GatewayError           [cfgenai] the gateway or Cloudflare refused: Google never saw it
    │   ├── GatewayClientError     a 4xx, also google-genai's ClientError
    │   └── GatewayServerError     a 5xx, also google-genai's ServerError
    ├── GoogleClientError      Google's 4xx passed on: google-genai's ClientError
    ├── GoogleServerError      Google's 5xx passed on: google-genai's ServerError
    ├── RedirectError          [cfgenai] the gateway's URL redirected; cfgenai never follows
    └── OffGatewayError        [cfgenai] a request would have left the gateway; nothing was sent
    google.auth.exceptions.RefreshError
    └── TokenRefreshError      Google's token endpoint gave no access token for Vertex AI

Each keeps no credential in its message, attributes or pickled bytes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

_PUBLIC = {"CloudflareAPIError": "cfgenai.logs"} | dict.fromkeys(
    ("ConfigError", "GatewayError", "OffGatewayError", "RedirectError"), "cfgenai"
)


def publish(namespace: MutableMapping[str, Any]) -> None:
    """Set ``__module__`` of each public exception in ``namespace`` to where users import it."""
    for name in _PUBLIC.keys() & namespace.keys():
        namespace[name].__module__ = _PUBLIC[name]


class ConfigError(ValueError):
    """Every configuration problem, one line each in ``problems``, naming the variable to fix
    and never its value; ``str()`` lists them all."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        count = len(self.problems)
        heading = f"cfgenai configuration has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([heading, *(f"  - {p}" for p in self.problems)]))


class CloudflareAPIError(Exception):
    """Cloudflare's REST API refused a logs or feedback request: ``status`` is the HTTP
    status, ``codes`` Cloudflare's error codes, ``hint`` what to fix."""

    def __init__(self, status: int, codes: tuple[int, ...], reason: str, hint: str) -> None:
        self.status, self.codes, self.hint = status, codes, hint
        shown = f" ({', '.join(map(str, codes))})" if codes else ""
        reason = f"{reason}; " if reason else ""
        super().__init__(f"Cloudflare's API answered {status}{shown}: {reason}{hint}")


def optional(module: str, extra: str) -> ModuleType:
    """``module``, imported; an ``ImportError`` naming cfgenai's extra to install if it is not."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"this needs {module}: pip install 'cfgenai[{extra}]'") from exc


def problems(
    exc: ValidationError, label: Callable[[str], str], fixes: Mapping[str, str]
) -> list[str]:
    """A line per error in ``exc``: ``label(field)``, then what ``fixes`` says the field must be,
    else its check's message, else what ``fixes`` says of pydantic's error type."""
    lines: list[str] = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        loc, given = error["loc"], error.get("input")
        key = str(loc[1] if loc[:1] == ("options",) and len(loc) > 1 else loc[0]) if loc else ""
        kind = "None" if given is None else type(given).__name__  # never the value itself
        by_type = fixes.get(error["type"], "").format(kind=kind)
        message = fixes.get(key) or (str(cause) if cause else by_type or error["msg"])
        lines.append(f"{label(key)}: {message}" if key else message)
    return lines


def unknown_names(
    given: Iterable[str],
    known: Collection[str],
    what: str,
    otherwise: str,
    hints: Mapping[str, str] | None = None,
) -> list[str]:
    """A line per unknown name in ``given``: its hint, else the closest of ``known``, else
    ``otherwise``."""
    lines = []
    for name in (n for n in given if n not in known):
        close = closest(name, known)
        hint = (hints or {}).get(name) or (f"did you mean {close}?" if close else otherwise)
        lines.append(f"{name}: not a {what}; {hint}")
    return lines


def closest(name: str, known: Iterable[str], prefix: str = "") -> str | None:
    """The one of ``known`` closest to ``name``, compared without ``prefix``; None if none is."""
    import difflib  # only for a mistake

    tails = {k.removeprefix(prefix): k for k in known}
    close = difflib.get_close_matches(name.removeprefix(prefix), tails, n=1)
    return tails[close[0]] if close else None


publish(globals())
