"""The Live API through the gateway: the documented route and credentials, the emulator's
side of the protocol (turns, realtime input, tool calls, faults), and the key kept out of
errors and logs now that it travels in a URL."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
import websockets
from google.genai import errors, types

from cfgenai import GatewayError
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, LIVE_MODEL, STORED_KEY, TOKEN, Build

TEXT = types.LiveConnectConfig(response_modalities=["TEXT"])


async def _turn(session: Any, text: str) -> list[types.LiveServerMessage]:
    await session.send_client_content(
        turns=types.Content(role="user", parts=[types.Part(text=text)]), turn_complete=True
    )
    messages = []
    async for message in session.receive():  # until turnComplete, or a tool call
        messages.append(message)
        if message.tool_call:
            break
    return messages


def _text(messages: list[types.LiveServerMessage]) -> str:
    return "".join(m.text or "" for m in messages)


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_a_live_turn_goes_to_root_google_with_the_documented_credentials(
    gateway: GatewayEmulator, build: Build, mode: str
) -> None:
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=gateway.base_url, token=TOKEN, mode=mode, **key)

    async def talk() -> tuple[str, str]:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT) as session:
            first = _text(await _turn(session, "hello live"))
            await session.send_realtime_input(text="and now")
            second = _text([m async for m in session.receive()])
        return first, second

    first, second = asyncio.run(talk())
    assert first == f"Echo from {LIVE_MODEL}: hello live"
    assert second == f"Echo from {LIVE_MODEL}: and now"
    handshake, setup, *turns = gateway.requests
    assert (handshake.method, handshake.path) == ("GET", "/v1/acc/gw/google")
    assert handshake.params == ({"api_key": GOOGLE_KEY} if mode == "key" else {})
    assert handshake.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert handshake.header("x-goog-api-key") is None
    assert setup.json["setup"]["model"] == f"models/{LIVE_MODEL}" and setup.model == LIVE_MODEL
    assert [t.method for t in turns] == ["WS", "WS"]
    (upstream,) = gateway.upstream_requests  # Google sees the key the gateway chose
    assert upstream.header("x-goog-api-key") == (GOOGLE_KEY if mode == "key" else STORED_KEY)


def test_scripted_tool_calls_make_a_round_trip(gateway: GatewayEmulator, build: Build) -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    gateway.reply(
        {"candidates": [{"content": {"role": "model", "parts": [call]}}]},
        lambda request: (
            f"It is sunny ({request.json['contents'][-1]['parts'][0]['functionResponse']['response']['sky']})"
        ),
    )
    client = build(base_url=gateway.base_url, token=TOKEN)
    tools = [types.Tool(function_declarations=[types.FunctionDeclaration(name="get_weather")])]
    config = types.LiveConnectConfig(response_modalities=["TEXT"], tools=tools)

    async def talk() -> str:
        async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
            messages = await _turn(session, "weather in Paris?")
            (asked,) = [m.tool_call for m in messages if m.tool_call]
            (function,) = asked.function_calls or []
            assert (function.name, function.args) == ("get_weather", {"city": "Paris"})
            await session.send_tool_response(
                function_responses=[
                    types.FunctionResponse(
                        id=function.id, name=function.name, response={"sky": "clear"}
                    )
                ]
            )
            return _text([m async for m in session.receive()])

    assert asyncio.run(talk()) == "It is sunny (clear)"


def test_faults_reach_live_sessions(gateway: GatewayEmulator, build: Build) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN)
    gateway.drop_next(after_chunks=1, route="/google")

    async def cut() -> list[types.LiveServerMessage]:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT) as session:
            return await _turn(session, "one two three")

    with pytest.raises(errors.APIError):
        asyncio.run(cut())
    gateway.refuse_next(2009, route="/google")
    with pytest.raises(GatewayError) as refused:
        asyncio.run(cut())
    assert (refused.value.code, refused.value.gateway_code) == (401, 2009)


def test_a_wrong_token_is_the_gateways_refusal_and_shows_no_key(
    gateway: GatewayEmulator, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    client = build(base_url=gateway.base_url, token="not-the-token", google_api_key=GOOGLE_KEY)
    caplog.set_level(logging.DEBUG)

    async def connect() -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT):
            pass

    with pytest.raises(GatewayError) as caught:
        asyncio.run(connect())
    assert caught.value.gateway_code == 2009 and "CF_AIG_TOKEN" in caught.value.hint
    assert "GET /v1/acc/gw/google?api_key=<sha256:" in caplog.text  # websockets' debug line
    shown = caplog.text + str(caught.value) + repr(caught.value)
    for canary in CANARIES:
        assert canary not in shown


def test_live_through_the_shared_client_and_a_custom_domain(
    cf_gateway: GatewayEmulator, build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgenai import client

    async def talk(with_client: Any) -> str:
        async with with_client.aio.live.connect(model=LIVE_MODEL, config=TEXT) as session:
            return _text(await _turn(session, "hi"))

    assert asyncio.run(talk(client)) == f"Echo from {LIVE_MODEL}: hi"
    domain = build(base_url=cf_gateway.url, token=TOKEN, access_token="canary-access-jwt-1")
    assert asyncio.run(talk(domain)) == f"Echo from {LIVE_MODEL}: hi"
    handshake = cf_gateway.requests[-3]
    assert (
        handshake.path == "/google" and handshake.header("cf-access-token") == "canary-access-jwt-1"
    )


def test_a_live_connection_that_fails_shows_no_key(build: Build) -> None:
    with GatewayEmulator(token=TOKEN) as gone:
        root = gone.base_url
    client = build(base_url=root, token=TOKEN, google_api_key=GOOGLE_KEY)

    async def connect() -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT):
            pass

    with pytest.raises(OSError) as caught:  # noqa: PT011 - whichever connection error it is
        asyncio.run(connect())
    for canary in CANARIES:
        assert canary not in str(caught.value) + repr(caught.value)


# A message (a list: in fragments) and whether it goes as text; each is malformed, as setup
# and after a good one.
MALFORMED: dict[str, tuple[str | bytes | list[bytes], bool]] = {
    "not JSON": ("{", True),
    "invalid UTF-8 in a binary frame": (b'{"realtimeInput": {"text": "\xff"}}', False),
    "invalid UTF-8 in a text frame": (b'{"realtimeInput": {"text": "\xff"}}', True),
    "invalid UTF-8 across fragments": ([b'{"realtimeInput": {"text": "\xe2\x82', b'"}}'], True),
    "not an object": ("[1, 2]", True),
    "clientContent not an object": ('{"clientContent": "hi"}', True),
    "turns not a list": ('{"clientContent": {"turns": "hi", "turnComplete": true}}', True),
    "a turn not an object": ('{"clientContent": {"turns": ["hi"], "turnComplete": true}}', True),
    "parts not a list": ('{"clientContent": {"turns": [{"parts": "hi"}]}}', True),
    "a part not an object": ('{"clientContent": {"turns": [{"parts": ["hi"]}]}}', True),
    "a text not a string": ('{"client_content": {"turns": [{"parts": [{"text": 5}]}]}}', True),
    "turnComplete not a boolean": ('{"clientContent": {"turnComplete": "yes"}}', True),
    "realtimeInput not an object": ('{"realtimeInput": ["hi"]}', True),
    "realtime text not a string": ('{"realtimeInput": {"text": {"a": 1}}}', True),
    "functionResponses not a list": ('{"toolResponse": {"functionResponses": 5}}', True),
    "a function response not an object": ('{"toolResponse": {"functionResponses": [5]}}', True),
}


def _uvicorn_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(("frame", "text"), MALFORMED.values(), ids=list(MALFORMED))
@pytest.mark.parametrize("first", [False, True], ids=["after-setup", "as-setup"])
def test_a_malformed_live_frame_closes_with_1007_and_a_reason(
    gateway: GatewayEmulator,
    caplog: pytest.LogCaptureFixture,
    frame: str | bytes | list[bytes],
    text: bool,
    first: bool,
) -> None:
    url = gateway.base_url.replace("http://", "ws://") + f"/google?api_key={GOOGLE_KEY}"
    server_log = logging.getLogger("uvicorn")  # it does not propagate to the root logger
    server_log.addHandler(caplog.handler)

    async def talk() -> Any:
        headers = {"cf-aig-authorization": f"Bearer {TOKEN}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            if not first:
                await ws.send(json.dumps({"setup": {"model": f"models/{LIVE_MODEL}"}}))
                assert "setupComplete" in str(await ws.recv())
            await ws.send(frame, text=text)
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            return closed.value.rcvd

    try:
        received = asyncio.run(talk())
    finally:
        server_log.removeHandler(caplog.handler)
    assert received is not None, "closed with no close frame"
    assert received.code == 1007 and received.reason
    assert _uvicorn_errors(caplog) == []


def test_a_turn_ended_before_anything_was_said_is_answered(gateway: GatewayEmulator) -> None:
    url = gateway.base_url.replace("http://", "ws://") + f"/google?api_key={GOOGLE_KEY}"

    async def talk() -> str:
        headers = {"cf-aig-authorization": f"Bearer {TOKEN}"}
        async with websockets.connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps({"setup": {"model": f"models/{LIVE_MODEL}"}}))
            await ws.recv()
            await ws.send(json.dumps({"clientContent": {"turnComplete": True}}))
            texts = []
            while not (message := json.loads(await asyncio.wait_for(ws.recv(), 10)))[
                "serverContent"
            ].get("turnComplete"):
                texts += [p["text"] for p in message["serverContent"]["modelTurn"]["parts"]]
            return "".join(texts)

    assert asyncio.run(talk()) == f"Echo from {LIVE_MODEL}: "


def test_a_session_from_before_a_reset_takes_no_answer_scripted_after_it(
    gateway: GatewayEmulator, build: Build
) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN)

    async def talk() -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT) as earlier:
            gateway.reset()  # the next test begins, while this session is still open
            gateway.reply("the next test's answer")
            with pytest.raises(errors.APIError) as caught:
                await _turn(earlier, "late turn")
            assert caught.value.code == 1012  # "service restart"
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT) as session:
            assert _text(await _turn(session, "hi")) == "the next test's answer"

    asyncio.run(talk())
