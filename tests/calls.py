"""One generation call of each kind google-genai makes: sync, streamed, async, async streamed.

Each takes a client and per-request options, and returns the response (a stream's first chunk,
which carries the headers) and the text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from google import genai
from google.genai import types

from cfgenai import request_options

from .conftest import MODEL

Result = tuple[Any, str]


def _config(options: dict[str, Any]) -> types.GenerateContentConfig | None:
    return types.GenerateContentConfig(http_options=request_options(**options)) if options else None


def sync(client: genai.Client, **options: Any) -> Result:
    response = client.models.generate_content(model=MODEL, contents="hi", config=_config(options))
    return response, response.text or ""


def sync_stream(client: genai.Client, **options: Any) -> Result:
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents="hi", config=_config(options))
    )
    return chunks[0], "".join(c.text or "" for c in chunks)


def async_(client: genai.Client, **options: Any) -> Result:
    async def call() -> Result:
        async with client.aio as aio:
            response = await aio.models.generate_content(
                model=MODEL, contents="hi", config=_config(options)
            )
        return response, response.text or ""

    return asyncio.run(call())


def async_stream(client: genai.Client, **options: Any) -> Result:
    async def call() -> Result:
        async with client.aio as aio:
            stream = await aio.models.generate_content_stream(
                model=MODEL, contents="hi", config=_config(options)
            )
            chunks = [chunk async for chunk in stream]
        return chunks[0], "".join(c.text or "" for c in chunks)

    return asyncio.run(call())


CALLS: dict[str, Callable[..., Result]] = {
    "sync": sync,
    "sync-stream": sync_stream,
    "async": async_,
    "async-stream": async_stream,
}
