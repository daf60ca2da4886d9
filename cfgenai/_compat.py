"""What differs between the google-genai releases cfgenai supports (2.0 through 3.x).

Everything version-dependent is decided here and nowhere else:

- which library google-genai sends httpx-style requests with: httpx only before 2.34, httpx by
  default with httpx2 on request (``GOOGLE_GENAI_HTTP_CLIENT``) in late 2.x, httpx2 by default
  in 3.x;
- the trust store it gives that library: certifi's bundle, except httpx2 in 3.x, which gets
  the system store through truststore;
- whether one async client serves every event loop: 3.x keeps one httpx pool per loop; 2.x
  keeps one pool, so a client used from a second loop (a second ``asyncio.run``) fails with
  "Event loop is closed" over httpx; its aiohttp session is rebuilt for each loop.

And the few private shapes of google-genai's that cfgenai relies on, each behind one function
here; ``tests/test_compat.py`` fails loudly on a release that changes one of them.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
import sys
from types import ModuleType
from typing import Any


@functools.cache
def genai_version() -> tuple[int, int]:
    """``(major, minor)`` of the installed google-genai."""
    from google.genai.version import __version__  # no search through the installed packages

    major, minor, *_ = __version__.split(".")
    return int(major), int(minor)


def http_backend() -> str:
    """``"httpx"`` or ``"httpx2"``: what google-genai sends with under the current environment."""
    from google.genai import _api_client

    # google-genai's own choice, where it has one (2.34 and later), so that cfgenai never
    # disagrees with it; it reads GOOGLE_GENAI_HTTP_CLIENT and what is installed.
    choose = getattr(_api_client, "_get_http_client_backend", None)
    return "httpx" if choose is None else str(choose())


def httpx_module() -> ModuleType:
    """The httpx (or httpx2) module google-genai sends with; its exception classes are the
    ones a transport failure raises."""
    return importlib.import_module(http_backend())


def has_aiohttp() -> bool:
    """Whether google-genai sends async requests with aiohttp (unless given a transport)."""
    from google.genai import _api_client

    return bool(_api_client.has_aiohttp)


def aiohttp_response_error() -> type[BaseException]:
    """aiohttp's ``ClientResponseError`` (imported where aiohttp already runs)."""
    import aiohttp

    return aiohttp.ClientResponseError


def transport_for(client: Any, url: Any) -> Any:
    """The transport an httpx (or httpx2) client sends ``url`` with: its proxy's, or its own."""
    return client._transport_for_url(url)


def uses_truststore(backend: str) -> bool:
    """Whether google-genai gives ``backend`` the system trust store rather than certifi's."""
    return backend == "httpx2" and genai_version() >= (3, 0)


# -- google-genai's private shapes ------------------------------------------------------------
# A genai.Client keeps all of its state in its instance dictionary: the API client that does
# the sending in `_api_client` and the `aio` side in `_aio`, which shares that API client.


def api_client(client: Any) -> Any:
    """The object that sends ``client``'s requests (``None`` for a proxy with no state)."""
    return vars(client).get("_api_client")


def set_aio_class(client: Any, cls: type) -> None:
    """Make ``client.aio`` an instance of ``cls`` (a subclass of its own class)."""
    vars(client)["_aio"].__class__ = cls


def share_state(proxy: object, client: object | None) -> None:
    """Make ``proxy`` run exactly as ``client`` (or, with ``None``, have no state at all)."""
    object.__setattr__(proxy, "__dict__", {} if client is None else vars(client))


def session_middleware(session: Any, middleware: object) -> None:
    """Make ``middleware`` the aiohttp ``session``'s own, for the requests sent without
    per-request middlewares (google-genai's upload chunks). A session with middlewares of
    its own (one a user handed google-genai) is left as it is."""
    if session is not None and not session._middlewares:
        session._middlewares = (middleware,)


def pickle_transport_errors_without_requests() -> None:
    """Pickle the HTTP libraries' request errors (timeouts, failed connections) as their
    message only: pickled whole, httpx's would carry the request, whose headers hold the
    gateway token and the Google key, into a job queue's result backend, and aiohttp's
    failed connection (holding the TLS context) would not pickle at all. Registered once for
    each error class (``copyreg``) of each library imported by then (google-genai and openai
    may use different ones); nothing else about them changes."""
    _register_transport_errors(*(sys.modules.get(n) for n in ("httpx", "httpx2", "aiohttp")))


@functools.cache
def _register_transport_errors(httpx: Any, httpx2: Any, aiohttp: Any) -> None:
    errors: list[tuple[Any, str, str | None]]
    errors = [(httpx, "RequestError", None), (httpx2, "RequestError", None)]
    errors.append((aiohttp, "ClientConnectorError", "ClientConnectionError"))
    # Its request_info (headers in a multidict proxy) does not pickle: its message then.
    errors.append((aiohttp, "ClientResponseError", "ClientError"))
    for module, name, rebuilt_as in errors:
        if module is None:
            continue
        classes = [getattr(module, name)]
        while classes:
            cls = classes.pop()
            classes += cls.__subclasses__()
            base = getattr(module, rebuilt_as) if rebuilt_as else None
            copyreg.pickle(cls, functools.partial(_message_only, base))


def _message_only(
    base: type[BaseException] | None, error: BaseException
) -> tuple[type[BaseException], tuple[str]]:
    # aiohttp's ClientConnectorError takes a connection key, not a message: its base then.
    return base or type(error), (str(error),)
