"""Where the google-genai releases cfgenai supports (2.0 to 3.x) differ, and the private shapes of
google-genai, httpx and aiohttp it relies on, each behind one function (tests/test_compat.py)."""

from __future__ import annotations

import copyreg
import functools
import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any


def _genai_3() -> bool:
    from google.genai.version import __version__  # no search through the installed packages

    return int(__version__.partition(".")[0]) >= 3


def http_backend() -> str:
    """``"httpx"`` or ``"httpx2"``: what google-genai sends with (its choice from 2.34 on)."""
    from google.genai import _api_client

    choose = getattr(_api_client, "_get_http_client_backend", None)
    return "httpx" if choose is None else str(choose())


def httpx_module() -> ModuleType:
    """The httpx (or httpx2) module google-genai sends with."""
    return importlib.import_module(http_backend())


def async_over_aiohttp() -> bool:
    """Whether google-genai sends async requests with aiohttp (3.x, if installed) by default."""
    from google.genai import _api_client

    return _genai_3() and bool(_api_client.has_aiohttp)


def uses_truststore(backend: str) -> bool:
    """Whether google-genai gives ``backend`` the system trust store rather than certifi's."""
    return backend == "httpx2" and _genai_3()


def transport_for(client: Any, url: Any) -> Any:
    """The transport an httpx client sends ``url`` with: its proxy's, or its own."""
    return client._transport_for_url(url)


# A genai.Client keeps all its state in its instance dict: its sender `_api_client`, its `_aio`.
def api_client(client: Any) -> Any:
    """The object that sends ``client``'s requests (``None`` for a proxy with no state)."""
    return vars(client).get("_api_client")


def set_aio_class(client: Any, cls: type) -> Any:
    """Make ``client.aio`` an instance of ``cls`` (a subclass of its own class); returns it."""
    aio = vars(client)["_aio"]
    aio.__class__ = cls
    return aio


def share_state(proxy: object, client: object | None) -> None:
    """Make ``proxy`` run exactly as ``client`` (with ``None``: have no state at all)."""
    object.__setattr__(proxy, "__dict__", {} if client is None else vars(client))


def session_middleware(session: Any, middleware: object) -> None:
    """Make ``middleware`` the aiohttp ``session``'s own, unless it has middlewares already."""
    if session is not None and not session._middlewares:
        session._middlewares = (middleware,)


def pickle_transport_errors_without_requests() -> None:
    """Pickle the request errors of each HTTP library imported by now as their message: httpx's
    carry the request and its credentials, aiohttp's hold what does not pickle."""
    _register_transport_errors(*(sys.modules.get(n) for n in ("httpx", "httpx2", "aiohttp")))


@functools.cache
def _register_transport_errors(httpx: Any, httpx2: Any, aiohttp: Any) -> None:
    errors = [(m.RequestError, None) for m in (httpx, httpx2) if m is not None]
    if aiohttp is not None:  # rebuilt as their base, which takes a message
        errors.append((aiohttp.ClientConnectorError, aiohttp.ClientConnectionError))
        errors.append((aiohttp.ClientResponseError, aiohttp.ClientError))
    for root, base in errors:
        pickle_subclasses(root, functools.partial(_message_only, base))


def pickle_subclasses(root: type, reduce: Callable[[Any], tuple[Any, ...]]) -> None:
    """Pickle ``root`` and each of its subclasses defined by now with ``reduce`` (if not their own)."""
    classes = [root]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        if cls.__reduce__ is root.__reduce__:
            copyreg.pickle(cls, reduce)


def _message_only(base: type | None, error: BaseException) -> tuple[type, tuple[str]]:
    return base or type(error), (str(error),)
