"""OpenAI's client on the gateway's OpenAI-compatible endpoint (``{root}/compat``); it needs
the ``openai`` extra: ``pip install 'cfgenai[openai]'``."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from . import _compat, _plan
from ._checks import PROVIDER, VERTEX
from ._errors import (
    ConfigError,
    GatewayTimeout,
    GatewayUnreachable,
    Reach,
    both,
    host_port,
    optional,
)
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
    optional("openai", "openai")
    return _clients()[0](**_arguments(resolve(settings, overrides)))


def async_openai_client(
    settings: GatewaySettings | None = None, **overrides: Any
) -> openai.AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of ``openai_client``."""
    optional("openai", "openai")
    return _clients()[1](**_arguments(resolve(settings, overrides), asynchronous=True))


@functools.cache
def _clients() -> tuple[type[openai.OpenAI], type[openai.AsyncOpenAI]]:
    """openai's client classes, whose requests that could not reach the gateway raise openai's
    error (once openai's retries are spent) as a ``GatewayUnreachable`` too."""
    import openai

    class OpenAI(openai.OpenAI):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            with _Translated():
                answer = super().request(*args, **kwargs)
            if isinstance(answer, openai.Stream):  # read later: its cut is translated then
                answer._iterator = _translated(answer._iterator)
            return answer

    class AsyncOpenAI(openai.AsyncOpenAI):
        async def request(self, *args: Any, **kwargs: Any) -> Any:
            with _Translated():
                answer = await super().request(*args, **kwargs)
            if isinstance(answer, openai.AsyncStream):
                answer._iterator = _async_translated(answer._iterator)
            return answer

    return OpenAI, AsyncOpenAI


def _translated(chunks: Iterator[Any]) -> Iterator[Any]:
    with _Translated():
        yield from chunks


async def _async_translated(chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    with _Translated():
        async for chunk in chunks:
            yield chunk


class _Translated:
    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: Any, exc: Any, traceback: Any) -> None:
        if isinstance(cause := getattr(exc, "__cause__", None), GatewayUnreachable):
            base = GatewayTimeout if isinstance(cause, TimeoutError) else GatewayUnreachable
            raised = both(base, kind)(str(cause))
            vars(raised).update(vars(exc), message=str(cause))  # openai's request, body...
            raise raised from cause.__cause__


def _arguments(settings: GatewaySettings, asynchronous: bool = False) -> dict[str, Any]:
    """The arguments of openai's client (``asynchronous``: of its async one)."""
    plan = _plan.plan(settings)
    if plan.vertex is not None:
        why = "the OpenAI-compatible client serves Google AI Studio models: unset it, or set it to"
        raise ConfigError([f"CF_AIG_PROVIDER={VERTEX}: {why} {PROVIDER}"])
    route = plan.openai
    route.leaving()  # now: openai would retry the refusal as a connection error
    _pickle_errors_without_requests()
    _compat.pickle_transport_errors_without_requests()  # the causes of connection errors

    def outgoing(request: Any) -> None:
        # The credentials as their files hold them now, and the current span's ids.
        request.headers.update(route.credential_headers())
        if route.key is not None:
            request.headers["Authorization"] = f"Bearer {route.key.value()}"
        if plan.otel:
            add_trace_headers(request.headers)

    import openai

    from ._transport import LoopPools  # google-genai's import: once a client is built

    reach = Reach(host_port(route.url), plan.retries + 1, plan.timeout)

    agent = f"{_plan.USER_AGENT} OpenAI/Python {openai.__version__}"  # cfgenai's, then openai's
    hook = _awaitable if asynchronous else lambda hook: hook
    http_client = openai.DefaultAsyncHttpxClient if asynchronous else openai.DefaultHttpxClient
    return {
        "api_key": route.key.value() if route.key else "",
        "base_url": route.url,
        "default_headers": {**route.headers, "User-Agent": agent},
        "timeout": plan.timeout,
        "max_retries": plan.retries,
        # Redirects are not followed: they would carry the credentials elsewhere (see _transport).
        "http_client": http_client(
            follow_redirects=False,
            event_hooks={"request": [hook(outgoing)]},
            # Failures to reach the gateway are GatewayUnreachable; each request, once sent,
            # is masked there, so openai's errors keep no credential.
            transport=LoopPools(None, not route.direct, reach),  # type: ignore[arg-type]
            trust_env=False,  # the pools' business
        ),
    }


def _awaitable(hook: Callable[[Any], None]) -> Callable[[Any], Any]:
    async def run(message: Any) -> None:
        hook(message)

    return run


@functools.cache
def _pickle_errors_without_requests() -> None:
    """Pickle openai's errors with their request as its method and URL only: it may hold the
    credentials, and most would not unpickle otherwise (keyword-only constructor arguments)."""
    import openai

    _compat.pickle_subclasses(openai.APIError, _reduce_error)


def _reduce_error(error: BaseException) -> tuple[Any, ...]:
    state = dict(vars(error))
    if (request := state.get("request")) is not None:
        state["request"] = type(request)(request.method, request.url)
    return Exception.__new__, (type(error), *error.args), state
