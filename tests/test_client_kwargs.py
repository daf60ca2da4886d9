"""``client_kwargs()``: ``genai.Client(**client_kwargs())`` is ``build_client()`` on the wire, and
its ``HttpOptions`` survive the copies and serialisations frameworks make."""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest
from google import genai
from google.genai import types

import cfgenai
from cfgenai.testing import GatewayEmulator, RecordedRequest

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN


def _ask(client: genai.Client, kind: str, *, close: bool = True) -> None:
    async def ask_async() -> None:
        aio = client.aio
        if kind == "async":
            await aio.models.generate_content(model=MODEL, contents="hi")
        else:
            stream = await aio.models.generate_content_stream(model=MODEL, contents="hi")
            [c async for c in stream]
        if close:
            await aio.aclose()  # in the loop its connections belong to

    if kind == "sync":
        client.models.generate_content(model=MODEL, contents="hi")
    elif kind == "sync stream":
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    else:
        asyncio.run(ask_async())


def _close(*clients: genai.Client) -> None:
    for client in clients:
        client.close()


def _options(kwargs: dict[str, Any]) -> types.HttpOptions:
    options = kwargs["http_options"]
    assert isinstance(options, types.HttpOptions)
    return options


# What a framework may do to the kwargs before building its client.
COPIES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "as given": lambda kwargs: kwargs,
    "model_copy": lambda kwargs: {**kwargs, "http_options": _options(kwargs).model_copy()},
    "model_copy(deep)": lambda kwargs: {
        **kwargs,
        "http_options": _options(kwargs).model_copy(deep=True),
    },
    "deepcopy": copy.deepcopy,
    "pickle": lambda kwargs: pickle.loads(pickle.dumps(kwargs)),  # noqa: S301 - our own bytes
    "model_dump dict": lambda kwargs: {
        **kwargs,
        "http_options": _options(kwargs).model_dump(exclude_none=True),
    },
}


def _seen(request: RecordedRequest) -> tuple[str, str, str, dict[str, str]]:
    headers = {k: v for k, v in request.headers.items() if k not in ("content-length",)}
    return request.method, request.path, request.query, headers


@pytest.mark.parametrize("copy_kind", list(COPIES))
@pytest.mark.parametrize("kind", ["sync", "sync stream", "async", "async stream"])
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_a_client_from_client_kwargs_sends_what_build_client_sends(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    kind: str,
    copy_kind: str,
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", mode)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    built, from_kwargs = (
        cfgenai.build_client(),
        genai.Client(**COPIES[copy_kind](cfgenai.client_kwargs())),
    )
    _ask(built, kind)
    _ask(from_kwargs, kind)
    _close(built, from_kwargs)
    ours, theirs = gateway_env.requests
    assert _seen(theirs) == _seen(ours)
    assert theirs.body == ours.body
    assert theirs.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert theirs.header("x-goog-api-key") == (GOOGLE_KEY if mode == "key" else None)


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_its_http_options_serialise_to_json_naming_each_hook(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", mode)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    data = _options(cfgenai.client_kwargs()).to_json_dict()
    text = json.dumps(data)
    assert "cfgenai:GatewayErrors" in text
    assert "cfgenai:Outgoing" in text


def test_a_json_copy_cannot_run_the_hooks_so_it_sends_nothing_in_byok(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", "byok")
    kwargs = cfgenai.client_kwargs()
    rebuilt = types.HttpOptions(**_options(kwargs).to_json_dict())
    client = genai.Client(**{**kwargs, "http_options": rebuilt})
    with pytest.raises(TypeError, match="not callable"):
        client.models.generate_content(model=MODEL, contents="hi")
    _close(client)
    assert gateway_env.requests == []


def test_client_kwargs_takes_settings_overrides(gateway_env: GatewayEmulator) -> None:
    kwargs = cfgenai.client_kwargs(timeout=5)
    assert _options(kwargs).timeout == 5000
    assert kwargs["vertexai"] is False


def test_each_call_gives_fresh_options(gateway_env: GatewayEmulator) -> None:
    first, second = cfgenai.client_kwargs(), cfgenai.client_kwargs()
    assert _options(first) is not _options(second)
    assert _options(first).headers is not _options(second).headers


def test_one_client_serves_one_event_loop_after_another(gateway_env: GatewayEmulator) -> None:
    # ADK's sync Runner.run starts a new event loop for each run.
    client = genai.Client(**cfgenai.client_kwargs())
    _ask(client, "async", close=False)
    _ask(client, "async stream")
    _close(client)
    assert len(gateway_env.requests) == 2


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_its_http_options_print_and_serialise_without_a_credential(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", mode)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("CF_AIG_ACCESS_TOKEN", "canary-access-jwt-0c1d")
    monkeypatch.setenv("CF_AIG_ACCESS_CLIENT_ID", "client.access")
    monkeypatch.setenv("CF_AIG_ACCESS_CLIENT_SECRET", "canary-access-secret-9a8b")
    monkeypatch.setenv("CF_AIG_METADATA", '{"team": "search"}')
    options = _options(cfgenai.client_kwargs())
    shown = [
        repr(options),
        str(options),
        repr(options.model_dump()),
        str(options.model_dump()),
        options.model_dump_json(),
        json.dumps(options.to_json_dict()),
    ]
    for text in shown:
        for canary in (*CANARIES, "canary-access-jwt-0c1d", "canary-access-secret-9a8b"):
            assert canary not in text
    assert options.headers == {
        "cf-aig-metadata": '{"team":"search"}',
        "CF-Access-Client-Id": "client.access",
        "user-agent": f"cfgenai/{cfgenai.__version__}",
    }
    client = genai.Client(**cfgenai.client_kwargs())  # the wire is as before
    client.models.generate_content(model=MODEL, contents="hi")
    _close(client)
    sent = gateway_env.last_request
    assert sent.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert sent.header("cf-access-token") == "canary-access-jwt-0c1d"
    assert sent.header("cf-access-client-secret") == "canary-access-secret-9a8b"
    assert sent.header("x-goog-api-key") == (GOOGLE_KEY if mode == "key" else None)
