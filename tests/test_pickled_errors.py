"""Errors carry no credential: what a request raises (the gateway's refusals, Google's errors,
a refused destination, a timeout, a failed connection) pickles and unpickles, on every
transport, keeping its class, code and message, with no secret in its pickled bytes; the
google-genai error family holds none anywhere (str, repr, args, attributes, the answer kept)."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from google.genai import _api_client, errors

from cfgenai import GatewayError, OffGatewayError
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN, Build

TRANSPORTS = ["sync", "async-aiohttp", "async-httpx"]


def _raised(client: Any, transport: str, model: str = MODEL) -> BaseException:
    try:
        if transport == "sync":
            client.models.generate_content(model=model, contents="hi")
        else:

            async def ask() -> None:
                async with client.aio as aio:
                    await aio.models.generate_content(model=model, contents="hi")

            asyncio.run(ask())
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


def _no_secret(text: str | bytes) -> None:
    for canary in CANARIES:
        assert (canary.encode() if isinstance(text, bytes) else canary) not in text


FAULTS: dict[str, Callable[[GatewayEmulator], dict[str, Any]]] = {
    "the gateway's refusal": lambda g: {"token": "not-the-gateway-token"},
    "google's 400": lambda g: g.fail_next(400) or {},
    "google's 503": lambda g: g.fail_next(503, times=5) or {},
    "a refused destination": lambda g: {"model": "%2e%2e/%2e%2e/%2e%2e/%2e%2e/x"},
    "a timeout": lambda g: g.stall_next(2) or {"timeout": 0.2},
    "a failed connection": lambda g: {"base_url": "http://127.0.0.1:9/v1/acc/gw"},
}
KINDS = {
    "the gateway's refusal": GatewayError,
    "google's 400": errors.ClientError,
    "google's 503": errors.ServerError,
    "a refused destination": OffGatewayError,
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_what_a_request_raises_pickles_without_a_credential(
    gateway: GatewayEmulator,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    transport: str,
    mode: str,
) -> None:
    if transport == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    settings: dict[str, Any] = {"base_url": gateway.base_url, "token": TOKEN, "retries": 0}
    if mode == "key":
        settings["google_api_key"] = GOOGLE_KEY
    setup = FAULTS[fault](gateway)
    model = setup.pop("model", MODEL)
    error = _raised(build(**{**settings, **setup}), transport, model)

    data = pickle.dumps(error)
    _no_secret(data)
    again = pickle.loads(data)  # noqa: S301 - our own bytes
    assert isinstance(error, type(again))  # aiohttp's connection error comes back as its base
    assert str(again) == str(error)
    if fault in KINDS:
        assert isinstance(error, KINDS[fault])
        assert (again.code, again.status, again.message) == (
            error.code,
            error.status,
            error.message,
        )
        everything = [str(error), repr(error), repr(error.args), repr(vars(error))]
        everything += [repr(vars(error.response))] if error.response is not None else []
        for text in everything:
            _no_secret(text)
    _no_secret(str(error) + repr(error) + repr(error.args))
    cause = error.__cause__ or error.__context__
    while cause is not None:
        _no_secret(str(cause) + repr(cause))
        cause = cause.__cause__ or cause.__context__


def test_gateway_info_still_reads_an_errors_answer(gateway: GatewayEmulator, build: Build) -> None:
    from cfgenai import gateway_info

    gateway.fail_next(429, retry_after=1)
    error = _raised(build(base_url=gateway.base_url, token=TOKEN, retries=0), "sync")
    assert isinstance(error, errors.ClientError)
    assert error.response.headers["retry-after"] == "1"
    assert gateway_info(pickle.loads(pickle.dumps(error))).log_id  # noqa: S301
