"""No credential in any log record a cfgenai client causes, at any level, on any transport,
in either mode (issue 30): google-genai, httpx(2), httpcore, aiohttp and websockets all log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from google.genai import _api_client, errors, types

from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN, Build


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
        async with aio.live.connect(model=MODEL, config=config):
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
