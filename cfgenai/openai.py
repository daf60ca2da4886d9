"""OpenAI's client on the gateway's OpenAI-compatible endpoint (``{root}/compat``).

Needs the ``openai`` extra: ``pip install 'cfgenai[openai]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _plan
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

    arguments = _arguments(resolve(settings, overrides), openai.DefaultHttpxClient, _trace_headers)
    return openai.OpenAI(**arguments)


def async_openai_client(
    settings: GatewaySettings | None = None, **overrides: Any
) -> openai.AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of :func:`openai_client`."""
    import_openai()
    import openai

    settings = resolve(settings, overrides)
    arguments = _arguments(settings, openai.DefaultAsyncHttpxClient, _trace_headers_async)
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


def _arguments(
    settings: GatewaySettings, http_client: Callable[..., Any], hook: Callable[[Any], Any]
) -> dict[str, Any]:
    """The client's arguments, its httpx client (sync or async) built last."""
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
    return {
        "api_key": route.key.value() if route.key else "",
        "base_url": route.url,
        "default_headers": {**route.headers, **route.credential_headers()},
        "timeout": plan.timeout,
        "max_retries": plan.retries,
        # Redirects are not followed: they would carry the credentials elsewhere (see _transport).
        "http_client": http_client(
            follow_redirects=False,
            event_hooks={"request": [hook]} if plan.otel else {},
            trust_env=not is_loopback_url(route.url),
        ),
    }
