"""One client, any event loop: loops in sequence (ADK's sync Runner, Celery tasks, a second
``asyncio.run()``), loops at once in threads, closing from a loop that made no connection.

Each case runs in a child process, as an app runs: with or without aiohttp (google-genai
then sends async requests with httpx), on the shared client or a built one, with every
ResourceWarning shown, so a connection left for the garbage collector is seen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cfgenai.testing import GatewayEmulator

from .conftest import MODEL

_APP = textwrap.dedent(
    """
    import sys
    if sys.argv[2] == "without aiohttp":
        sys.modules["aiohttp"] = None
    import asyncio, json, threading
    import cfgenai

    client = cfgenai.client if sys.argv[1] == "shared" else cfgenai.build_client()
    errors = []

    async def three_calls(i):
        answer = await client.aio.models.generate_content(model=sys.argv[3], contents=f"hi {i}")
        stream = await client.aio.models.generate_content_stream(model=sys.argv[3], contents="s")
        chunks = [chunk.text async for chunk in stream]
        tokens = await client.aio.models.count_tokens(model=sys.argv[3], contents="count")
        assert answer.text and chunks and tokens.total_tokens

    def run(i):
        try:
            asyncio.run(three_calls(i))
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")

    for i in range(10):  # one loop after another
        run(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]  # loops at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Closed from a loop of its own, after every loop that made a connection ended.
    closing = cfgenai.aclose_client() if sys.argv[1] == "shared" else client.aio.aclose()
    asyncio.run(closing)
    print(json.dumps(errors))
    """
)


@pytest.mark.parametrize("aiohttp", ["with aiohttp", "without aiohttp"])
@pytest.mark.parametrize("which", ["shared", "built"])
def test_one_client_serves_every_event_loop(
    gateway: GatewayEmulator, which: str, aiohttp: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "always", "-c", _APP, which, aiohttp, MODEL],
        env={**os.environ, **gateway.env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
    # Nothing left to the garbage collector, no loop closed under a connection.
    for sign in ("ResourceWarning", "nclosed", "Event loop is closed", "Traceback"):
        assert sign not in done.stderr, done.stderr
    assert len(gateway.requests) == 14 * 3
    assert gateway.connections == 14  # one per loop that sent
