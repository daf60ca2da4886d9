"""What cfgenai's OpenAI helper raises (openai's errors) holds no credential: not in its str,
repr, attributes' reprs, pickle, nor its cause and context chain; and it pickles and unpickles,
keeping its class, message and status (cfgenai's class, for a gateway it could not reach)."""

from __future__ import annotations

import asyncio
import importlib
import pickle
from collections.abc import Callable
from typing import Any

import openai
import pytest

import cfgenai.openai
from cfgenai import GatewayTimeout, GatewayUnreachable
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN

# openai sends with httpx2 here, which google-genai 2.x does not: its transport (httpcore2) is
# imported now, not first inside a pytester run, which would drop it (see conftest).
_HTTPX = openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]
importlib.import_module(_HTTPX.replace("httpx", "httpcore"))

ACCESS_SECRET = "canary-access-secret-5d2b8e1f0a7c"
SECRETS = (*CANARIES, ACCESS_SECRET)
MESSAGES = [{"role": "user", "content": "hi"}]

FAULTS: dict[str, Callable[[GatewayEmulator], dict[str, Any]]] = {
    "the gateway's refusal": lambda g: {"token": "not-the-gateway-token"},
    "google's 400": lambda g: g.fail_next(400) or {},
    "google's 503": lambda g: g.fail_next(503) or {},
    "a timeout": lambda g: g.stall_next(2) or {"timeout": 0.2},
    "a failed connection": lambda g: {"base_url": "http://127.0.0.1:9/v1/acc/gw"},
}
KINDS: dict[str, type[openai.APIError]] = {
    "the gateway's refusal": openai.AuthenticationError,
    "google's 400": openai.BadRequestError,
    "google's 503": openai.InternalServerError,
    "a timeout": openai.APITimeoutError,
    "a failed connection": openai.APIConnectionError,
}


def _raised(settings: dict[str, Any], how: str) -> openai.APIError:
    model = cfgenai.openai.compat_model(MODEL)
    try:
        if how.startswith("sync"):
            with cfgenai.openai.openai_client(**settings) as client:
                answer = client.chat.completions.create(
                    model=model,
                    messages=MESSAGES,  # type: ignore[arg-type]
                    stream=how == "sync-stream",
                )
                list(answer) if how == "sync-stream" else None  # type: ignore[call-overload]
        else:

            async def ask() -> None:
                async with cfgenai.openai.async_openai_client(**settings) as client:
                    answer = await client.chat.completions.create(
                        model=model,
                        messages=MESSAGES,  # type: ignore[arg-type]
                        stream=how == "async-stream",
                    )
                    if how == "async-stream":
                        [chunk async for chunk in answer]  # type: ignore[union-attr]

            asyncio.run(ask())
    except openai.APIError as exc:
        return exc
    raise AssertionError("nothing was raised")


def _no_secret(text: str | bytes) -> None:
    for secret in SECRETS:
        assert (secret.encode() if isinstance(text, bytes) else secret) not in text


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("how", ["sync", "sync-stream", "async", "async-stream"])
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_the_openai_helpers_errors_pickle_without_a_credential(
    gateway: GatewayEmulator, fault: str, how: str, mode: str
) -> None:
    settings: dict[str, Any] = {
        "base_url": gateway.base_url,
        "token": TOKEN,
        "access_client_id": "client-id.access",
        "access_client_secret": ACCESS_SECRET,
        "retries": 0,
    }
    if mode == "key":
        settings["google_api_key"] = GOOGLE_KEY
    settings |= FAULTS[fault](gateway)
    error = _raised(settings, how)
    assert isinstance(error, KINDS[fault])

    data = pickle.dumps(error)
    _no_secret(data)
    again = pickle.loads(data)  # noqa: S301 - our own bytes
    if isinstance(error, GatewayUnreachable):  # failing to reach the gateway: cfgenai's too
        base = GatewayTimeout if fault == "a timeout" else GatewayUnreachable
        assert type(again) is base and str(again) == str(error) == error.message
    else:
        assert type(again) is type(error)
        assert (str(again), again.message, again.body) == (str(error), error.message, error.body)
        assert again.request.method == error.request.method
        assert again.request.url == error.request.url
    if isinstance(error, openai.APIStatusError):
        assert isinstance(again, openai.APIStatusError)
        assert again.status_code == error.status_code
        assert again.response.content == error.response.content
    # The request kept by the error itself no longer holds the credentials.
    _no_secret(repr(error.request.headers.raw))
    for text in (str(error), repr(error), repr(error.args), repr(vars(error))):
        _no_secret(text)
    cause = error.__cause__ or error.__context__
    while cause is not None:
        _no_secret(str(cause) + repr(cause) + repr(pickle.dumps(cause)))
        cause = cause.__cause__ or cause.__context__
