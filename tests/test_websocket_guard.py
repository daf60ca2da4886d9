"""Every WebSocket google-genai opens passes one guard: Live on Cloudflare's documented route,
everything else refused before a byte (or a DNS lookup) leaves, whichever module opens it and
however often cfgenai is imported."""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
import sys
import types as pytypes
from typing import Any

import pytest
from google import genai
from google.genai import types

import cfgenai
from cfgenai import ConfigError, _client
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, LIVE_MODEL, TOKEN, VERTEX_TOKEN, Build

# google-genai warns that Live Music and Live Interactions are experimental.
# google-genai 2.x warns that the Interactions API does not take cfgenai's retry options.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*[Ee]xperimental"),
    pytest.mark.filterwarnings("ignore:Granular retry options are not supported"),
]
TEXT = types.LiveConnectConfig(response_modalities=["TEXT"])
MODES = pytest.mark.parametrize("mode", ["key", "byok"])
# A gateway that is not on this machine: reaching it would need a DNS lookup.
REMOTE_ROOT = "https://gateway.example.invalid/v1/acc/gw"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every DNS lookup and TCP connection attempted, each failing the test's call."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"the network was used: {args[:2]}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "getaddrinfo", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse)
    return attempts


def _credentials(mode: str) -> dict[str, Any]:
    return {
        "token": TOKEN,
        "mode": mode,
        **({"google_api_key": GOOGLE_KEY} if mode == "key" else {}),
    }


def _refused(caught: pytest.ExceptionInfo[ConfigError], route: str) -> str:
    message = str(caught.value)
    assert route in message and "refused" in message and "no credential" in message
    assert not any(canary in message for canary in CANARIES)
    return message


@MODES
def test_live_music_is_refused_before_anything_is_sent(
    build: Build, no_network: list[Any], mode: str
) -> None:
    client = build(base_url=REMOTE_ROOT, **_credentials(mode))

    async def connect() -> None:
        async with client.aio.live.music.connect(model="models/lyria-realtime-exp"):
            pass

    with pytest.raises(ConfigError) as caught:
        asyncio.run(connect())
    message = _refused(caught, "the Live Music API")
    assert "BidiGenerateMusic" in message and "gateway.example.invalid" in message
    assert no_network == []


@MODES
def test_live_interactions_are_refused_before_anything_is_sent(
    build: Build, no_network: list[Any], mode: str
) -> None:
    client = build(base_url=REMOTE_ROOT, **_credentials(mode))
    interactions = getattr(client.aio, "interactions", None)
    if interactions is None or not hasattr(interactions, "connect"):
        pytest.skip("this google-genai has no Live Interactions")

    async def connect() -> None:
        async with interactions.connect("interaction-1"):
            pass

    with pytest.raises(ConfigError) as caught:
        asyncio.run(connect())
    _refused(caught, "Live Interactions")
    assert no_network == []


def test_vertex_ai_live_is_refused_before_anything_is_sent(
    build: Build, no_network: list[Any]
) -> None:
    client = build(
        base_url=REMOTE_ROOT,
        token=TOKEN,
        provider="google-vertex-ai",
        vertex_project="p",
        vertex_location="us-central1",
        mode="byok",
    )

    async def connect() -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT):
            pass

    with pytest.raises(ConfigError, match="no Vertex AI route"):
        asyncio.run(connect())
    assert no_network == []


def _sent_key(mode: str) -> str:
    """What google-genai puts in x-goog-api-key: the Google key, or byok mode's placeholder."""
    return GOOGLE_KEY if mode == "key" else _client._BYOK_PLACEHOLDER


def _future_module(name: str) -> Any:
    """A google-genai module a later release might add: websockets' connect under its own name."""
    module = pytypes.ModuleType(name)
    exec(  # noqa: S102 - the module's source, as such a release would write it
        "from websockets.asyncio.client import connect as open_socket\n"
        "async def talk(uri, headers):\n"
        "    async with open_socket(uri, additional_headers=headers):\n"
        "        pass\n",
        module.__dict__,
    )
    return module


@MODES
def test_a_websocket_a_later_google_genai_opens_on_the_gateway_is_refused(
    build: Build, no_network: list[Any], mode: str
) -> None:
    build(base_url=REMOTE_ROOT, **_credentials(mode))
    module = _future_module("google.genai._future_socket")
    uri = f"{REMOTE_ROOT.replace('https', 'wss')}/google-ai-studio/ws/SomeNewService"
    with pytest.raises(ConfigError) as caught:
        asyncio.run(module.talk(uri, {"x-goog-api-key": _sent_key(mode)}))
    _refused(caught, "this WebSocket route")
    assert no_network == []


@MODES
def test_a_websocket_elsewhere_carrying_a_clients_credential_is_refused(
    build: Build, no_network: list[Any], mode: str
) -> None:
    build(base_url=REMOTE_ROOT, **_credentials(mode))
    module = _future_module("google.genai._future_socket")
    headers = {"x-goog-api-key": _sent_key(mode)}
    with pytest.raises(ConfigError) as caught:
        asyncio.run(module.talk("wss://elsewhere.example.invalid/ws", headers))
    assert "not the configured gateway" in _refused(caught, "this WebSocket route")
    assert no_network == []


def test_a_websocket_elsewhere_carrying_the_vertex_ai_access_token_is_refused(
    build: Build, no_network: list[Any]
) -> None:
    build(
        base_url=REMOTE_ROOT,
        token=TOKEN,
        provider="google-vertex-ai",
        vertex_project="p",
        vertex_location="us-central1",
        vertex_access_token=VERTEX_TOKEN,
    )
    module = _future_module("google.genai._future_socket")
    headers = {"Authorization": f"Bearer {VERTEX_TOKEN}"}
    with pytest.raises(ConfigError) as caught:
        asyncio.run(module.talk("wss://elsewhere.example.invalid/ws", headers))
    assert "not the configured gateway" in _refused(caught, "this WebSocket route")
    assert no_network == []


def test_a_websocket_google_genai_does_not_open_is_left_alone(
    build: Build, gateway: GatewayEmulator
) -> None:
    build(base_url=gateway.base_url, token=TOKEN)  # the guard knows this gateway now
    from websockets.asyncio.client import connect

    async def talk() -> None:
        headers = {"cf-aig-authorization": f"Bearer {TOKEN}"}
        async with connect(
            f"{gateway.base_url.replace('http', 'ws')}/google", additional_headers=headers
        ):
            pass

    asyncio.run(talk())
    (handshake,) = gateway.requests
    assert handshake.path == "/v1/acc/gw/google"


@MODES
def test_live_after_cfgenai_is_imported_again_goes_on_the_documented_route(
    gateway: GatewayEmulator, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = cfgenai.build_client(base_url=gateway.base_url, **_credentials(mode))
    for name in [n for n in sys.modules if n == "cfgenai" or n.startswith("cfgenai.")]:
        monkeypatch.delitem(sys.modules, name)
    again = importlib.import_module("cfgenai")
    assert again is not cfgenai
    second = again.build_client(base_url=gateway.base_url, **_credentials(mode))

    async def turn(client: genai.Client) -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT) as session:
            await session.send_client_content(
                turns=types.Content(role="user", parts=[types.Part(text="hi")])
            )
            async for _ in session.receive():
                pass

    for client in (second, first):
        gateway.reset()
        asyncio.run(turn(client))
        handshake = gateway.requests[0]
        assert (handshake.method, handshake.path) == ("GET", "/v1/acc/gw/google")
        assert handshake.header("cf-aig-authorization") == f"Bearer {TOKEN}"
        assert handshake.header("x-goog-api-key") is None
        assert handshake.params == ({"api_key": GOOGLE_KEY} if mode == "key" else {})
    for client in (first, second):
        client.close()


@pytest.mark.parametrize("target", ["another host", "a fragment"])
@MODES
def test_a_redirect_on_the_live_handshake_is_raised_and_never_followed(
    build: Build, mode: str, target: str
) -> None:
    from cfgenai import RedirectError

    async def scenario() -> tuple[RedirectError | None, list[bytes]]:
        stolen: list[bytes] = []

        async def thief(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            stolen.append(await reader.read(65536))
            writer.close()

        async def redirecting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            location = f"ws://127.0.0.2:{other_port}/steal" if target == "another host" else "#x"
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n".encode())
            await writer.drain()
            writer.close()

        other = await asyncio.start_server(thief, "127.0.0.2", 0)
        other_port = other.sockets[0].getsockname()[1]
        gateway = await asyncio.start_server(redirecting, "127.0.0.1", 0)
        port = gateway.sockets[0].getsockname()[1]
        client = build(base_url=f"http://127.0.0.1:{port}/v1/acc/gw", **_credentials(mode))
        caught = None
        try:
            async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT):
                pass
        except RedirectError as exc:
            caught = exc
        for server in (gateway, other):
            server.close()
            await server.wait_closed()
        return caught, stolen

    caught, stolen = asyncio.run(scenario())
    assert caught is not None and caught.code == 302
    assert ("127.0.0.2" in str(caught)) == (target == "another host")
    assert "does not follow" in str(caught)
    assert not any(canary in str(caught) for canary in CANARIES)
    assert stolen == []


@MODES
def test_live_debug_logs_show_no_credential(
    build: Build, gateway: GatewayEmulator, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    client = build(base_url=gateway.base_url, **_credentials(mode))

    async def talk() -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT):
            pass

    with caplog.at_level(logging.DEBUG, logger="websockets"):
        asyncio.run(talk())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "cf-aig-authorization" in logged.lower()  # websockets did log the handshake
    assert not any(canary in logged for canary in CANARIES)


@MODES
def test_a_base_url_in_capitals_is_normalised_once_and_live_works_on_it(
    build: Build, gateway: GatewayEmulator, mode: str
) -> None:
    shouted = gateway.base_url.replace("http://127.0.0.1", "HTTP://127.0.0.1")
    settings = cfgenai.GatewaySettings(base_url=shouted, **_credentials(mode))
    assert settings.base_url == gateway.base_url
    client = build(settings)

    async def talk() -> None:
        async with client.aio.live.connect(model=LIVE_MODEL, config=TEXT):
            pass

    asyncio.run(talk())
    assert gateway.requests[0].path == "/v1/acc/gw/google"
