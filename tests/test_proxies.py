"""Loopback never through a proxy: whatever the proxy variables say, every client cfgenai
builds (google-genai's on each transport and its Live WebSocket, OpenAI's, the logs API's)
reaches a gateway on this machine directly; a remote gateway still goes through the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from google.genai import _api_client, types

import cfgenai
import cfgenai.logs
import cfgenai.openai
import cfgenai.pytest_plugin
from cfgenai.testing import GatewayEmulator

from .conftest import API_TOKEN, CANARIES, GOOGLE_KEY, LIVE_MODEL, MODEL, TOKEN, Build

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "WS_PROXY", "WSS_PROXY")


class Proxy:
    """A proxy that records the first line of each connection, then hangs up."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):
                    self.lines.append(connection.recv(65536).decode("latin-1"))

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Proxy]:
    started = Proxy()
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, started.url)
        monkeypatch.setenv(name.lower(), started.url)
    yield started
    started.close()


def _live(client: Any) -> None:
    async def talk() -> None:
        config = types.LiveConnectConfig(response_modalities=["TEXT"])
        async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
            await session.send_realtime_input(text="hi")
            [m async for m in session.receive()]

    asyncio.run(talk())


def _async(client: Any) -> None:
    async def ask() -> None:
        async with client.aio as aio:
            await aio.models.generate_content(model=MODEL, contents="hi")

    asyncio.run(ask())


CALLS = {
    "sync": lambda c: c.models.generate_content(model=MODEL, contents="hi"),
    "async-aiohttp": _async,
    "async-httpx": _async,
    "live": _live,
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_a_gateway_on_this_machine_is_reached_without_the_proxy(
    gateway: GatewayEmulator,
    proxy: Proxy,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    mode: str,
) -> None:
    if call == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    CALLS[call](build(base_url=gateway.base_url, token=TOKEN, mode=mode, retries=0, **key))
    assert gateway.requests
    assert proxy.lines == []


def test_openai_and_the_logs_api_on_this_machine_bypass_the_proxy(
    gateway: GatewayEmulator, proxy: Proxy
) -> None:
    settings = {"base_url": gateway.base_url, "token": TOKEN, "_env_file": None}
    with cfgenai.openai.openai_client(**settings) as client:
        client.chat.completions.create(
            model=cfgenai.openai.compat_model(MODEL), messages=[{"role": "user", "content": "hi"}]
        )
    log_id = gateway.logs[-1]["id"]
    account = cfgenai.GatewaySettings(
        account_id="0123456789abcdef0123456789abcdef",
        token=TOKEN,
        api_token=API_TOKEN,
        api_base_url=gateway.api_base_url,
        _env_file=None,
    )
    cfgenai.logs.get_log(log_id, settings=account)
    assert proxy.lines == []


def test_a_remote_gateway_still_goes_through_the_proxy(
    proxy: Proxy, build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        cfgenai.pytest_plugin, "_live", True
    )  # as --gateway-live: the proxy stops it
    client = build(base_url="https://gateway.example.test/v1/acc/gw", token=TOKEN, retries=0)
    with pytest.raises(Exception):  # noqa: PT011, B017 - the proxy hangs up; any library error
        client.models.generate_content(model=MODEL, contents="hi")
    assert [line.split("\r\n")[0] for line in proxy.lines] == [
        "CONNECT gateway.example.test:443 HTTP/1.1"
    ]
    for canary in CANARIES:  # a CONNECT carries the host, never the request
        assert canary not in "".join(proxy.lines)
