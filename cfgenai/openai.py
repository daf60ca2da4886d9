"""OpenAI's client on the gateway's OpenAI-compatible endpoint (``{root}/compat``).

Needs the ``openai`` extra: ``pip install 'cfgenai[openai]'``.
"""

from __future__ import annotations

import copyreg
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _compat, _plan
from ._checks import PROVIDER, VERTEX, is_loopback_url
from ._otel import add_trace_headers
from ._settings import GatewaySettings, resolve

if TYPE_CHECKING:
    import openai

__all__ = ["async_openai_client", "compat_model", "openai_client"]


def compat_model(model: str) -> str:
    """``gemini-2.5-flash`` -> ``google-ai-studio/gemini-2.5-flash``, the compat endpoint's name."""
    return model if model.startswith(f"{PROVIDER}/") else f"{PROVIDER}/{model}"


def openai_client(settings: GatewaySettings | None = None, **overrides: Any) -> openai.OpenAI:
    """An ``openai.OpenAI`` on the gateway's compat endpoint, configured like ``build_client``."""
    import_openai()
    import openai

    settings = resolve(settings, overrides)
    arguments = _arguments(settings, openai.DefaultHttpxClient, _trace_headers, _forget_credentials)
    return openai.OpenAI(**arguments)


def async_openai_client(
    settings: GatewaySettings | None = None, **overrides: Any
) -> openai.AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of :func:`openai_client`."""
    import_openai()
    import openai

    settings = resolve(settings, overrides)
    arguments = _arguments(
        settings, openai.DefaultAsyncHttpxClient, _trace_headers_async, _forget_credentials_async
    )
    return openai.AsyncOpenAI(**arguments)


def import_openai() -> None:
    try:
        import openai  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "cfgenai's OpenAI-compatible client needs the openai package; install it with "
            "pip install 'cfgenai[openai]'"
        ) from exc


def _trace_headers(request: Any) -> None:
    add_trace_headers(request.headers)  # the OpenTelemetry span current when sending


async def _trace_headers_async(request: Any) -> None:
    add_trace_headers(request.headers)


# openai's errors keep the request they answer (``error.request``, ``error.response.request``),
# whose headers held the gateway token and the Google key: once its answer is in, a request's
# credentials are masked (openai builds a new request for each attempt).
_MASKED = "[hidden by cfgenai]"


def _forget_credentials(names: tuple[str, ...], response: Any) -> None:
    headers = response.request.headers
    for name in names:
        if name in headers:
            headers[name] = _MASKED


async def _forget_credentials_async(names: tuple[str, ...], response: Any) -> None:
    _forget_credentials(names, response)


@functools.cache
def _pickle_errors_without_requests() -> None:
    """Pickle openai's request errors with their request and response reduced to what names
    no credential (method, URL; status, headers and body of the answer): pickled whole they
    would carry the request's headers, and most of them do not unpickle (their constructors
    take keyword-only arguments). Registered once per error class (``copyreg``), as
    :func:`cfgenai._compat.pickle_transport_errors_without_requests` does for httpx's."""
    import openai

    classes: list[type[BaseException]] = [openai.APIError]
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        copyreg.pickle(cls, _reduce_error)


def _reduce_error(error: BaseException) -> tuple[Any, ...]:
    state = dict(vars(error))
    if state.get("request") is not None:
        state["request"] = _bare_request(state["request"])
    if state.get("response") is not None:
        state["response"] = _bare_response(state["response"])
    return _rebuild_error, (type(error), error.args, state)


def _rebuild_error(
    cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]
) -> BaseException:
    error = cls.__new__(cls)
    BaseException.__init__(error, *args)
    error.__dict__.update(state)
    return error


def _bare_request(request: Any) -> Any:
    return type(request)(request.method, request.url)


def _bare_response(response: Any) -> Any:
    try:
        content = response.content
    except Exception:  # a stream never read
        content = b""
    try:
        request = _bare_request(response.request)
    except RuntimeError:  # none was set
        request = None
    return type(response)(
        response.status_code, headers=response.headers, content=content, request=request
    )


def _arguments(
    settings: GatewaySettings,
    http_client: Callable[..., Any],
    hook: Callable[[Any], Any],
    forget: Callable[..., Any],
) -> dict[str, Any]:
    """The client's arguments, its httpx client (sync or async) built last; ``hook`` adds
    the trace headers, ``forget`` masks a request's credentials once it is answered."""
    plan = _plan.plan(settings)
    if plan.vertex is not None:
        from ._errors import ConfigError

        raise ConfigError(
            [
                f"CF_AIG_PROVIDER={VERTEX}: the OpenAI-compatible client serves Google AI Studio "
                f"models; unset CF_AIG_PROVIDER (or set it to {PROVIDER}) for it"
            ]
        )
    route = plan.openai
    _pickle_errors_without_requests()
    _compat.pickle_transport_errors_without_requests()  # the causes of connection errors
    credentials = ("Authorization", *(name for name, _, _ in route.credentials))
    hooks: dict[str, list[Callable[..., Any]]] = {
        "response": [functools.partial(forget, credentials)]
    }
    if plan.otel:
        hooks["request"] = [hook]
    return {
        "api_key": route.key.value() if route.key else "",
        "base_url": route.url,
        "default_headers": {**route.headers, **route.credential_headers()},
        "timeout": plan.timeout,
        "max_retries": plan.retries,
        # Redirects are not followed: they would carry the credentials elsewhere (see _transport).
        "http_client": http_client(
            follow_redirects=False,
            event_hooks=hooks,
            trust_env=not is_loopback_url(route.url),
        ),
    }
