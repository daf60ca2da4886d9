"""Every request cfgenai's clients send names cfgenai in ``User-Agent``, beside the library's own
name, so the gateway's logs can be filtered by it: on every sender and transport."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cfgenai
import cfgenai.logs
import cfgenai.openai
from cfgenai.testing import GatewayEmulator

from .conftest import LIVE_MODEL, MODEL

COMPAT_MODEL = cfgenai.openai.compat_model(MODEL)
OURS = f"cfgenai/{cfgenai.__version__}"
GOOGLE = re.compile(r"^google-genai-sdk/\S+ gl-python/\S+ ")  # google-genai's, first


def _agents(gateway: GatewayEmulator) -> list[str]:
    return [request.header("user-agent") or "" for request in gateway.requests]


# What an app does with cfgenai's client and a framework's, in a child process (where `import
# aiohttp` may fail: google-genai then sends async requests with httpx).
_CALLS = f"""
import asyncio, os, sys
from pathlib import Path
if sys.argv[1] == "without aiohttp":
    sys.modules["aiohttp"] = None
from google import genai
import cfgenai

MODEL, vertex = "{MODEL}", os.environ.get("CF_AIG_PROVIDER") == "google-vertex-ai"
upload = Path(sys.argv[2])


async def calls(client):
    await client.aio.models.generate_content(model=MODEL, contents="hi")
    if vertex:  # Vertex AI has neither Files nor Live on the gateway
        return
    async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="hi"):
        pass
    await client.aio.files.upload(file=upload)
    async with client.aio.live.connect(model="{LIVE_MODEL}", config={{}}):
        pass


with cfgenai.build_client() as client:
    client.models.generate_content(model=MODEL, contents="hi")
    list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    if not vertex:
        client.files.upload(file=upload)
    asyncio.run(calls(client))
with genai.Client(**cfgenai.client_kwargs()) as framework:  # a framework's own client
    framework.models.generate_content(model=MODEL, contents="hi")
"""


@pytest.mark.parametrize("provider", ["google-ai-studio", "google-vertex-ai"])
@pytest.mark.parametrize("aiohttp", ["with aiohttp", "without aiohttp"])
def test_google_genai_requests_name_cfgenai_after_google_genai(
    gateway_env: GatewayEmulator, tmp_path: Path, provider: str, aiohttp: str
) -> None:
    env = {**os.environ, "CF_AIG_PROVIDER": provider}
    if provider == "google-vertex-ai":
        env |= {"CF_AIG_VERTEX_PROJECT": "my-project", "CF_AIG_VERTEX_LOCATION": "us-central1"}
    upload = tmp_path / "notes.txt"
    upload.write_text("hello")
    command = [sys.executable, "-c", _CALLS, aiohttp, str(upload)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(gateway_env.requests) >= (4 if provider == "google-vertex-ai" else 11)
    for request, agent in zip(gateway_env.requests, _agents(gateway_env), strict=True):
        assert agent.endswith(f" {OURS}"), agent
        if "upload_id" not in request.params:  # google-genai sends chunks with httpx's own
            assert GOOGLE.match(agent), agent


def test_openai_and_logs_requests_name_cfgenai(gateway_env: GatewayEmulator) -> None:
    import openai

    messages = [{"role": "user", "content": "hi"}]
    with cfgenai.openai.openai_client() as compat:
        compat.chat.completions.create(model=COMPAT_MODEL, messages=messages)  # type: ignore[arg-type]

    async def ask() -> None:
        async with cfgenai.openai.async_openai_client() as compat:
            await compat.chat.completions.create(model=COMPAT_MODEL, messages=messages)  # type: ignore[arg-type]

    asyncio.run(ask())
    with cfgenai.build_client() as client:
        answer = client.models.generate_content(model=MODEL, contents="hi")
    cfgenai.logs.get_log(cfgenai.gateway_info(answer).log_id or "")
    compat_agents = _agents(gateway_env)[:2]
    assert compat_agents == [f"{OURS} OpenAI/Python {openai.__version__}"] * 2
    assert _agents(gateway_env)[-1] == OURS  # the logs API's request
