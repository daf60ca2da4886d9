"""The agent frameworks over the gateway emulator: what the gateway receives from each, in key
and byok mode, for sync, async and streaming calls.

Run with the frameworks installed (``.ci/run`` does); without them every test here skips.
"""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

import cfgenai
import cfgenai.openai
from cfgenai.testing import GatewayEmulator

from .conftest import GOOGLE_KEY, MODEL, TOKEN

# The frameworks leave event loops, sessions and sockets for the collector, and warn about
# their own deprecations: none of that is the gateway's or cfgenai's business here.
pytestmark = pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning",
    "ignore::ResourceWarning",
    "ignore::DeprecationWarning",
    "ignore::PendingDeprecationWarning",
    "ignore::UserWarning",
)

PREFIX = "/v1/acc/gw/google-ai-studio/"
KINDS = ["sync", "async", "stream"]


@pytest.fixture(params=["key", "byok"])
def mode(
    request: pytest.FixtureRequest, cf_gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The mode, with a Google key in the environment either way, and an unreachable proxy for
    every address but loopback, so that a request sent anywhere else fails the test."""
    monkeypatch.setenv("CF_AIG_MODE", request.param)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    return str(request.param)


@pytest.fixture(autouse=True, params=["aiohttp", "httpx"])
def async_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Async requests over aiohttp where google-genai would use it, and over httpx, as
    without aiohttp installed (the clients are built after this, on first use)."""
    from google.genai import _api_client

    if request.param == "httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)


def _assert_received(gateway: GatewayEmulator, mode: str, kind: str) -> None:
    calls = [r for r in gateway.requests if ":generateContent" in r.path or "stream" in r.path]
    assert calls, "the gateway received no generateContent call"
    for request in gateway.requests:
        assert request.path.startswith(PREFIX), request.path
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
        assert request.header("x-goog-api-key") == (GOOGLE_KEY if mode == "key" else None)
    endpoint = ":streamGenerateContent" if kind == "stream" else ":generateContent"
    assert calls[-1].path.endswith(endpoint)


def _run(kind: str, sync: Callable[[], Any], coroutine: Callable[[], Any]) -> Any:
    """Twice, as an app asks again: the async kinds on a new event loop each time (a second
    ``asyncio.run()``, a Celery task), as ADK's sync runner does on its own."""
    for _ in range(2):
        answer = sync() if kind == "sync" else asyncio.run(coroutine())
    return answer


@pytest.mark.parametrize("kind", KINDS)
def test_pydantic_ai(cf_gateway: GatewayEmulator, mode: str, kind: str) -> None:
    pytest.importorskip("pydantic_ai")
    from pydantic_ai import Agent
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    # fmt: off

    # docs: pydantic-ai
    agent = Agent(GoogleModel(MODEL, provider=GoogleProvider(client=cfgenai.client)))
    # end docs
    # fmt: on

    async def ask() -> str:
        if kind == "stream":
            async with agent.run_stream("hi") as result:
                return "".join([text async for text in result.stream_output(debounce_by=None)])
        return (await agent.run("hi")).output

    text = _run(kind, lambda: agent.run_sync("hi").output, ask)
    assert "hi" in text
    _assert_received(cf_gateway, mode, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_google_adk(cf_gateway: GatewayEmulator, mode: str, kind: str) -> None:
    pytest.importorskip("google.adk")
    from google.adk.agents import LlmAgent
    from google.adk.agents.run_config import RunConfig, StreamingMode
    from google.adk.models import Gemini
    from google.adk.runners import InMemoryRunner
    from google.genai import types

    # fmt: off

    # docs: Google ADK
    agent = LlmAgent(name="helper", model=Gemini(model=MODEL, client_kwargs=cfgenai.client_kwargs()))
    # end docs
    # fmt: on
    runner = InMemoryRunner(agent=agent, app_name="app")
    runner.auto_create_session = True
    message = types.Content(role="user", parts=[types.Part(text="hi")])
    streaming = RunConfig(streaming_mode=StreamingMode.SSE if kind == "stream" else None)

    def texts(events: list[Any]) -> str:
        return "".join(p.text or "" for e in events if e.content for p in e.content.parts or [])

    async def ask() -> str:
        events = runner.run_async(
            user_id="u", session_id="s", new_message=message, run_config=streaming
        )
        return texts([e async for e in events])

    text = _run(
        kind, lambda: texts(list(runner.run(user_id="u", session_id="s", new_message=message))), ask
    )
    assert "hi" in text
    _assert_received(cf_gateway, mode, kind)


class Answer(BaseModel):
    city: str


@pytest.mark.parametrize("kind", KINDS)
def test_instructor(cf_gateway: GatewayEmulator, mode: str, kind: str) -> None:
    instructor = pytest.importorskip("instructor")
    cf_gateway.reply('{"city": "Lisbon"}')
    messages = [{"role": "user", "content": "Where is the sun?"}]

    def sync() -> Answer:
        # fmt: off
        # docs: instructor
        structured = instructor.from_genai(cfgenai.client, mode=instructor.Mode.GENAI_STRUCTURED_OUTPUTS)
        # end docs
        # fmt: on
        answer: Answer = structured.chat.completions.create(
            model=MODEL, messages=messages, response_model=Answer
        )
        return answer

    async def ask() -> Answer:
        structured = instructor.from_genai(
            cfgenai.client, mode=instructor.Mode.GENAI_STRUCTURED_OUTPUTS, use_async=True
        )
        if kind == "stream":
            last: Any = None
            async for partial in structured.chat.completions.create_partial(
                model=MODEL, messages=messages, response_model=Answer
            ):
                last = partial
            return Answer(city=last.city)
        answer: Answer = await structured.chat.completions.create(
            model=MODEL, messages=messages, response_model=Answer
        )
        return answer

    assert _run(kind, sync, ask).city == "Lisbon"
    _assert_received(cf_gateway, mode, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_langchain(cf_gateway: GatewayEmulator, mode: str, kind: str) -> None:
    pytest.importorskip("langchain_google_genai")
    from cfgenai.integrations import langchain_chat

    # fmt: off

    # docs: LangChain
    chat = langchain_chat(MODEL, temperature=0)
    # end docs
    # fmt: on

    async def ask() -> str:
        if kind == "stream":
            return "".join([str(chunk.content) async for chunk in chat.astream("hi")])
        return str((await chat.ainvoke("hi")).content)

    text = _run(kind, lambda: str(chat.invoke("hi").content), ask)
    assert "hi" in text
    _assert_received(cf_gateway, mode, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_llama_index(cf_gateway: GatewayEmulator, mode: str, kind: str) -> None:
    pytest.importorskip("llama_index.llms.google_genai")
    from cfgenai.integrations import llama_index_llm

    # fmt: off

    # docs: LlamaIndex
    llm = llama_index_llm(MODEL, max_tokens=256, context_window=8192)
    # end docs
    # fmt: on

    async def ask() -> str:
        if kind == "stream":
            return "".join([r.delta or "" async for r in await llm.astream_complete("hi")])
        return (await llm.acomplete("hi")).text

    text = _run(kind, lambda: llm.complete("hi").text, ask)
    assert "hi" in text
    _assert_received(cf_gateway, mode, kind)


def test_the_helpers_name_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from cfgenai import integrations

    monkeypatch.setitem(sys.modules, "langchain_google_genai", None)
    with pytest.raises(ImportError, match=r"cfgenai\[langchain\]"):
        integrations.langchain_chat(MODEL)
    monkeypatch.setitem(sys.modules, "openai", None)
    for helper in (cfgenai.openai.openai_client, cfgenai.openai.async_openai_client):
        with pytest.raises(ImportError, match=r"needs openai: pip install 'cfgenai\[openai\]'"):
            helper()


def test_the_docs_show_the_lines_these_tests_run() -> None:
    readme = (Path(__file__).parent.parent / "docs" / "frameworks.md").read_text()
    source = Path(__file__).read_text()
    shown = re.findall(r"# docs: .*\n((?:.*\n)*?)\s*# end docs", source)
    assert len(shown) == 5
    for block in shown:
        code = textwrap.dedent(block).strip()
        assert f"```python\n{code}\n```" in readme, code
