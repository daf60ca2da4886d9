"""A gateway that cannot be reached, or cuts its answer, raises ``GatewayUnreachable`` (a
``GatewayTimeout`` when a timeout expired) on every transport, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import socket
from typing import Any

import pytest
from google import genai
from google.genai import _api_client

import cfgenai.openai
from cfgenai import GatewayTimeout, GatewayUnreachable, client_kwargs
from cfgenai._errors import Reach, unreachable
from cfgenai.logs import get_log
from cfgenai.testing import GatewayEmulator

from .conftest import (
    ASYNC_OVER_AIOHTTP,
    CANARIES,
    GOOGLE_KEY,
    LIVE_MODEL,
    MODEL,
    TOKEN,
    VERTEX_TOKEN,
    Build,
)

TRANSPORTS = ["sync", "async-httpx", "async-aiohttp"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _transport(transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if transport == "async-aiohttp" and not ASYNC_OVER_AIOHTTP:
        pytest.skip("google-genai 2.x: cfgenai sends async requests with httpx")
    if transport == "async-httpx":  # google-genai sends async requests with httpx then
        monkeypatch.setattr(_api_client, "has_aiohttp", False)


def _call(client: Any, transport: str, stream: bool = False) -> None:
    if transport == "sync":
        if stream:
            list(client.models.generate_content_stream(model=MODEL, contents="hi"))
        else:
            client.models.generate_content(model=MODEL, contents="hi")
        return

    async def run() -> None:
        if stream:
            async for _ in await client.aio.models.generate_content_stream(
                model=MODEL, contents="hi"
            ):
                pass
        else:
            await client.aio.models.generate_content(model=MODEL, contents="hi")

    asyncio.run(run())


def _checked(exc: BaseException, where: str, *parts: str) -> str:
    message = str(exc)
    assert isinstance(exc, GatewayUnreachable) and isinstance(exc, ConnectionError)
    assert f"the gateway at {where}:" in message, message
    for part in parts:
        assert part in message, message
    assert exc.__cause__ is not None and not isinstance(exc.__cause__, GatewayUnreachable)
    again = pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes)
    assert type(again) in (GatewayUnreachable, GatewayTimeout) and str(again) == message
    kept = ""  # the request httpx's errors keep (and openai's): sent, so masked
    with contextlib.suppress(AttributeError, RuntimeError):  # none kept (aiohttp's errors)
        kept = repr(exc.request.headers.raw)
    for shown in (message, repr(exc), pickle.dumps(exc).decode("latin-1"), kept):
        assert not [c for c in CANARIES if c in shown]
    assert "?" not in message and "/v1" not in message  # no query, no path
    return message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_nothing_listening(build: Build, monkeypatch: pytest.MonkeyPatch, transport: str) -> None:
    _transport(transport, monkeypatch)
    port = _free_port()
    root = f"http://127.0.0.1:{port}/v1/acc/gw"
    client = build(
        base_url=root, token=TOKEN, google_api_key=GOOGLE_KEY, retries=2, timeout=2, retry_delay=0
    )
    with pytest.raises(GatewayUnreachable) as caught:
        _call(client, transport)
    _checked(caught.value, f"127.0.0.1:{port}", "connecting failed", "3 attempts")
    assert not isinstance(caught.value, TimeoutError)


@pytest.mark.parametrize("stream", [False, True], ids=["call", "stream"])
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stall_past_the_timeout(
    build: Build,
    gateway: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    stream: bool,
) -> None:
    _transport(transport, monkeypatch)
    gateway.stall_next(1, times=2)
    client = build(base_url=gateway.base_url, token=TOKEN, retries=1, timeout=0.3, retry_delay=0)
    with pytest.raises(GatewayTimeout) as caught:
        _call(client, transport, stream)
    assert isinstance(caught.value, TimeoutError)
    # aiohttp's own total timeout is a bare TimeoutError, which google-genai does not retry.
    attempts = "1 attempt" if transport == "async-aiohttp" else "2 attempts"
    _checked(caught.value, f"127.0.0.1:{gateway.port}", "timed out", "timeout 0.3 s", attempts)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_stream_cut_mid_answer(
    build: Build, gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    _transport(transport, monkeypatch)
    gateway.drop_next(after_chunks=1)
    client = build(base_url=gateway.base_url, token=TOKEN, retries=0, timeout=5)
    with pytest.raises(GatewayUnreachable) as caught:
        _call(client, transport, stream=True)
    message = _checked(
        caught.value, f"127.0.0.1:{gateway.port}", "the answer was cut after", "1 attempt"
    )
    assert " 0 bytes" not in message


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_answer_cut_before_its_body(
    build: Build, gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    _transport(transport, monkeypatch)
    gateway.drop_next()  # a non-streamed answer: its headers, then nothing
    client = build(base_url=gateway.base_url, token=TOKEN, retries=1, retry_delay=0)
    with pytest.raises(GatewayUnreachable) as caught:
        _call(client, transport)
    where = f"127.0.0.1:{gateway.port}"
    _checked(caught.value, where, "the answer was cut after 0 bytes", "1 attempt")
    assert len(gateway.requests) == 1  # google-genai retries no cut answer


@pytest.mark.parametrize("fault", ["nothing listening", "a stream cut"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("made", ["client_kwargs()", "Vertex AI"])
def test_the_clients_of_client_kwargs_and_vertex_ai(
    gateway: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    made: str,
    transport: str,
    fault: str,
) -> None:
    _transport(transport, monkeypatch)
    settings: dict[str, Any] = {"base_url": gateway.base_url, "token": TOKEN, "retry_delay": 0}
    if made == "Vertex AI":
        settings |= {"provider": "google-vertex-ai", "vertex_access_token": VERTEX_TOKEN}
        settings |= {"vertex_project": "proj", "vertex_location": "us-central1"}
    else:
        settings["google_api_key"] = GOOGLE_KEY
    where = f"127.0.0.1:{gateway.port}"
    if fault == "nothing listening":
        where = f"127.0.0.1:{_free_port()}"
        settings |= {"base_url": f"http://{where}/v1/acc/gw", "retries": 1}
    else:
        gateway.drop_next(after_chunks=1)
    vertex = made == "Vertex AI"  # build_client's, whose TLS context google-genai makes
    client = (
        cfgenai.build_client(**settings) if vertex else genai.Client(**client_kwargs(**settings))
    )
    try:
        with pytest.raises(GatewayUnreachable) as caught:
            _call(client, transport, stream=fault == "a stream cut")
    finally:
        client.close()
    what = "connecting failed" if fault == "nothing listening" else "the answer was cut after"
    _checked(
        caught.value, where, what, "2 attempts" if fault == "nothing listening" else "1 attempt"
    )


@pytest.mark.parametrize("fault", ["nothing listening", "a stall", "a stream cut"])
@pytest.mark.parametrize("how", ["sync", "sync-stream", "async", "async-stream"])
def test_the_openai_helper(gateway: GatewayEmulator, how: str, fault: str) -> None:
    # openai retries, then raises its own error, a GatewayUnreachable too (mid-stream as well).
    openai = pytest.importorskip("openai")
    settings: dict[str, Any] = {"base_url": gateway.base_url, "token": TOKEN, "retries": 1}
    settings |= {"google_api_key": GOOGLE_KEY, "retry_delay": 0}
    where, stream = f"127.0.0.1:{gateway.port}", how.endswith("stream")
    if fault == "nothing listening":
        where = f"127.0.0.1:{_free_port()}"
        settings["base_url"] = f"http://{where}/v1/acc/gw"
    elif fault == "a stall":
        gateway.stall_next(1, times=2)
        settings["timeout"] = 0.3
    else:
        gateway.drop_next(after_chunks=1, times=2)
    model, messages = cfgenai.openai.compat_model(MODEL), [{"role": "user", "content": "hi"}]

    async def ask() -> None:
        async with cfgenai.openai.async_openai_client(**settings) as client:
            answer = await client.chat.completions.create(
                model=model, messages=messages, stream=stream
            )
            [chunk async for chunk in answer] if stream else None

    def ask_sync() -> None:
        with cfgenai.openai.openai_client(**settings) as client:
            answer = client.chat.completions.create(model=model, messages=messages, stream=stream)
            list(answer) if stream else None

    with pytest.raises(
        openai.APITimeoutError if fault == "a stall" else openai.APIConnectionError
    ) as caught:
        asyncio.run(ask()) if how.startswith("async") else ask_sync()
    raised = caught.value  # openai's error is cfgenai's too, once openai's retries are spent
    assert raised.message == str(raised) and raised.request.method == "POST"
    assert isinstance(raised, GatewayTimeout if fault == "a stall" else GatewayUnreachable)
    what = {"nothing listening": "connecting failed", "a stall": "timeout 0.3 s"}
    # A cut after the answer's headers: the count of failures in a row starts again (openai's
    # retry of a cut non-streamed answer is not counted).
    attempts = "2 attempts" if fault != "a stream cut" else "1 attempt" if stream else "attempt"
    _checked(raised, where, what.get(fault, "the answer was cut"), attempts)


def test_the_next_call_counts_its_own_attempts(
    build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    client = build(
        base_url=f"http://127.0.0.1:{port}/v1/acc/gw", token=TOKEN, retries=1, retry_delay=0
    )
    for _ in range(2):
        with pytest.raises(GatewayUnreachable, match=r"; 2 attempts$"):
            _call(client, "sync")


def test_a_failure_in_translating_keeps_the_original() -> None:
    class ConnectError(ConnectionError):  # named as httpx's: one cfgenai translates
        def __init_subclass__(cls) -> None:
            raise RuntimeError("cannot be subclassed")

    original = ConnectError("down")
    assert unreachable(original, Reach("h:1", 1)) is original
    plain = ValueError("not a transport's")
    assert unreachable(plain, Reach("h:1", 1)) is plain


def test_the_live_handshake_with_nothing_listening(build: Build) -> None:
    port = _free_port()
    client = build(base_url=f"http://127.0.0.1:{port}/v1/acc/gw", token=TOKEN, retry_delay=0)

    async def connect() -> None:
        async with client.aio.live.connect(
            model=LIVE_MODEL, config={"response_modalities": ["TEXT"]}
        ):
            pass

    with pytest.raises(GatewayUnreachable) as caught:
        asyncio.run(connect())
    _checked(caught.value, f"127.0.0.1:{port}", "connecting failed", "1 attempt")


def test_the_logs_api_with_nothing_listening(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", f"http://127.0.0.1:{port}/client/v4")
    with pytest.raises(GatewayUnreachable) as caught:
        get_log("0190a8f2-0000-7000-8000-000000000000")
    message = str(caught.value)
    assert message.startswith(f"cfgenai could not reach Cloudflare's API at 127.0.0.1:{port}: ")
    assert "connecting failed: " in message and message.endswith("; 1 attempt")
    kept = repr(caught.value.__cause__.request.headers.raw)  # the request httpx's error keeps
    assert not [c for c in CANARIES if c in message + repr(caught.value) + kept]


def test_it_pickles_after_the_transport_errors_are_registered_again(build: Build) -> None:
    # cfgenai registers how httpx's errors pickle whenever another HTTP library shows up.
    from cfgenai import _compat

    root = f"http://127.0.0.1:{_free_port()}/v1/acc/gw"
    client = build(base_url=root, token=TOKEN, retry_delay=0)
    with pytest.raises(GatewayUnreachable):
        _call(client, "sync")
    _compat._register_transport_errors.cache_clear()
    _compat.pickle_transport_errors_without_requests()
    with pytest.raises(GatewayUnreachable) as caught:
        _call(client, "sync")
    _checked(caught.value, caught.value.args[0].split(" at ")[1].split(":")[0], "connecting failed")


def test_a_request_h11_refuses_is_not_translated_so_no_header_reaches_our_message() -> None:
    # h11 names a header value it refuses, credentials included: cfgenai adds no message of its own.
    from .conftest import sdk_http

    exc = sdk_http().LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}\\x00'")
    assert unreachable(exc, Reach("127.0.0.1:9", 1)) is exc
