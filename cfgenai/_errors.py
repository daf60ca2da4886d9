"""Every exception cfgenai raises, and the one way pydantic's errors become a ``ConfigError``.

Public ones are imported from the module in brackets; those on google-genai's and google-auth's
errors are in ``cfgenai._google_errors``, since google-genai takes a second to import and
``import cfgenai`` must not pay it::

    ValueError
    └── ConfigError            [cfgenai] every configuration problem, each naming what to fix
    ConnectionError, and the transport's own error (httpx's ConnectError, aiohttp's...)
    └── GatewayUnreachable     [cfgenai] the gateway could not be reached, or its answer was cut
        └── GatewayTimeout     [cfgenai] ... in time: also a TimeoutError
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

import contextvars
import dataclasses
import functools
import importlib
import ssl
from collections.abc import Callable, Collection, Iterable, Mapping, MutableMapping
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pydantic import ValidationError

_PUBLIC = {"CloudflareAPIError": "cfgenai.logs"} | dict.fromkeys(
    (
        "ConfigError",
        "GatewayError",
        "GatewayTimeout",
        "GatewayUnreachable",
        "OffGatewayError",
        "RedirectError",
    ),
    "cfgenai",
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


class GatewayUnreachable(ConnectionError):
    """The gateway could not be reached, or its answer was cut: the message names its host and
    port, what failed and the attempts made; ``__cause__`` is the transport's error. Raised as a
    subclass of that error's class too, so google-genai's retry and ``except`` clauses see it."""

    __str__ = BaseException.__str__  # never the transport's own, which may read its state

    def __reduce__(self) -> Any:  # pickled as cfgenai's class alone, and by its message
        ours = GatewayTimeout if isinstance(self, TimeoutError) else GatewayUnreachable
        return ours, (str(self),)


class GatewayTimeout(GatewayUnreachable, TimeoutError):
    """The gateway did not answer, or finish answering, within the timeout (``CF_AIG_TIMEOUT``)."""


# Each transport error by the name of its class (or a base), nearest first: what failed.
_FAILED = {
    "LocalProtocolError": "",  # not reaching it: a request h11 refused (its words hold headers)
    "ConnectTimeout": "connecting timed out",
    "ReadTimeout": "reading the answer timed out",
    "TimeoutException": "the request timed out",
    "TimeoutError": "the request timed out",
    "ConnectError": "connecting failed",
    "ClientConnectorError": "connecting failed",
    "ConnectionRefusedError": "connecting failed",
    "ServerDisconnectedError": "the connection closed before an answer",
    "RemoteProtocolError": "the answer was cut",
    "ClientPayloadError": "the answer was cut",
    "ClientOSError": "the connection failed",
    "TransportError": "the connection failed",
    "ConnectionError": "the connection failed",
}
# What google-genai's retry retries (httpx's and aiohttp's errors, and their subclasses).
_RETRIED = {"TimeoutException", "ConnectError", "ClientOSError", "ServerDisconnectedError"}
_failures: contextvars.ContextVar[int] = contextvars.ContextVar("cfgenai_failures", default=0)


def host_port(url: str) -> str:
    """``host:port`` of ``url``: what an error may name of it."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    return f"{host}:{parts.port or (443 if parts.scheme in ('https', 'wss') else 80)}"


@dataclasses.dataclass(frozen=True)
class Reach:
    """Where ``service`` is (host:port), and the attempts and timeout it is given; as a context
    manager, it raises a transport's error in its block as ``GatewayUnreachable``."""

    where: str
    attempts: int
    timeout: float = 0
    service: str = "the gateway"

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> None:
        if isinstance(exc, Exception) and (raised := unreachable(exc, self)) is not exc:
            raise raised from exc


NOWHERE = Reach("", 1)


def unreachable(exc: BaseException, reach: Reach, received: int | None = None) -> BaseException:
    """``exc``, a transport's error on the way to ``reach`` (``received``: after those bytes of
    the answer), as ``GatewayUnreachable``; ``exc`` itself if it is none, or if building that
    fails. Of the ``reach.attempts`` google-genai makes, those failed in a row are counted here,
    in this thread or task."""
    try:
        failed = next((_FAILED[c.__name__] for c in type(exc).__mro__ if c.__name__ in _FAILED), "")
        if not failed or isinstance(exc, GatewayUnreachable):
            return exc
        chain = [exc]
        while len(chain) < 5 and chain[-1].__context__ is not None:
            chain.append(chain[-1].__context__)
        if any(isinstance(e, ssl.SSLError) for e in chain):
            failed = "the TLS handshake failed"
        retried = any(c.__name__ in _RETRIED for c in type(exc).__mro__)
        count = _failures.get() + 1 if retried else 1
        _failures.set(count if retried and count < reach.attempts else 0)
        timed_out = isinstance(exc, TimeoutError) or "timed out" in failed
        if received is not None and "cut" in failed:
            failed += f" after {received} bytes"
        if timed_out and reach.timeout:
            failed += f" (timeout {reach.timeout:g} s)"
        detail = str(exc)[:200]  # the transport's words, unless they may hold a URL or repeat
        if detail and detail not in failed and not any(c in detail for c in "/?@"):
            failed += f": {detail}"
        kind: Any = type(exc)
        base = GatewayTimeout if timed_out else GatewayUnreachable
        attempts = f"{count} attempt{'s' if count != 1 else ''}"
        message = f"cfgenai could not reach {reach.service} at {reach.where}: {failed}; {attempts}"
        raised: BaseException = both(base, kind)(message)
        raised.__cause__ = exc
        return raised
    except Exception:  # a failure here never hides the transport's own error
        return exc


def reached() -> None:
    """An answer came: the next failure in this thread or task is a first attempt."""
    _failures.set(0)


@functools.cache
def both(base: Any, transport: Any) -> Any:
    """A class both ``base`` (cfgenai's) and ``transport`` (another library's error class)."""
    if issubclass(base, transport):  # a bare TimeoutError or OSError
        return base
    # Named as the transport's error: google-genai's retry log (and the CLI) name what failed.
    return type(transport.__name__, (base, transport), {"__module__": transport.__module__})


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
