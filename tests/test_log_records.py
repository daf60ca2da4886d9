"""No credential in any log record a cfgenai client causes, at any level, on any transport,
in either mode (issue 30): google-genai, httpx(2), httpcore, aiohttp and websockets all log."""

from __future__ import annotations

import asyncio
import logging
import pickle
from typing import Any

import pytest
from google.genai import _api_client, errors, types

from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, LIVE_MODEL, MODEL, TOKEN, Build, needs_aiohttp_async


@pytest.mark.parametrize("transport", ["sync", "async-aiohttp", "async-httpx"])
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_no_log_record_at_any_level_holds_a_credential(
    gateway: GatewayEmulator,
    build: Build,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    mode: str,
) -> None:
    if transport == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=gateway.base_url, token=TOKEN, mode=mode, retries=0, **key)
    gateway.fail_next(500)  # an error answer is logged too

    async def calls() -> None:
        aio = client.aio
        with pytest.raises(errors.APIError):
            await aio.models.generate_content(model=MODEL, contents="fails")
        await aio.models.generate_content(model=MODEL, contents="hi")
        async for _ in await aio.models.generate_content_stream(model=MODEL, contents="hi"):
            pass
        config = types.LiveConnectConfig(response_modalities=["TEXT"])
        async with aio.live.connect(model=LIVE_MODEL, config=config):
            pass

    with caplog.at_level(logging.DEBUG):
        if transport == "sync":
            with pytest.raises(errors.APIError):
                client.models.generate_content(model=MODEL, contents="fails")
            client.models.generate_content(model=MODEL, contents="hi")
            list(client.models.generate_content_stream(model=MODEL, contents="hi"))
        else:
            asyncio.run(calls())
    assert caplog.records  # the libraries did log at DEBUG
    for record in caplog.records:
        shown: list[Any] = [record.getMessage(), repr(record.args), str(record.exc_info)]
        assert not any(c in text for text in map(str, shown) for c in CANARIES), record


@pytest.mark.parametrize("answer", ["bad status line", "300 kB header"])
@pytest.mark.parametrize("mode", ["key", "byok"])
@needs_aiohttp_async
def test_an_answer_aiohttp_cannot_parse_raises_an_error_without_credentials(
    build: Build, answer: str, mode: str
) -> None:
    import aiohttp

    raw = (
        b"HTTP/1.1 OK-ish\r\n\r\n"
        if answer == "bad status line"
        else b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 300_000 + b"\r\ncontent-length: 0\r\n\r\n"
    )

    async def scenario() -> BaseException:
        async def answer_badly(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(raw)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_badly, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
        client = build(
            base_url=f"http://127.0.0.1:{port}/v1/acc/gw", token=TOKEN, mode=mode, retries=0, **key
        )
        try:
            await client.aio.models.generate_content(model=MODEL, contents="hi")
        except aiohttp.ClientResponseError as exc:
            return exc
        finally:
            server.close()
            await server.wait_closed()
        raise AssertionError("no error")

    error = asyncio.run(scenario())
    chain: list[BaseException | None] = [error, error.__cause__, error.__context__]
    shown = " ".join(f"{e!s} {e!r}" for e in chain if e is not None)
    shown += repr(getattr(error, "request_info", None))
    assert not any(canary in shown for canary in CANARIES)
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert not any(canary in repr(again) for canary in CANARIES)
