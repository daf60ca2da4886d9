"""The emulator serves the Interactions API as google-genai calls it: create (whole and
streamed), get, delete; answered from the same script as generate_content, and journaled."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cfgenai.testing import GatewayEmulator, RecordedRequest

from .conftest import GOOGLE_KEY, MODEL, TOKEN, Build

PATH = "/v1/acc/gw/google-ai-studio/v1/interactions"
# google-genai 2.0.0's interactions warn of what they leave out.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Async interactions client cannot use aiohttp:UserWarning"),
    pytest.mark.filterwarnings("ignore:Granular retry options are not supported:UserWarning"),
]


def _text(interaction: Any) -> str:
    return "".join(
        content.text
        for step in interaction.steps
        if step.type == "model_output"
        for content in step.content
    )


def _streamed(events: list[Any]) -> str:
    return "".join(event.delta.text for event in events if event.event_type == "step.delta")


def test_create_get_delete_and_a_streamed_create(gateway: GatewayEmulator, build: Build) -> None:
    client: Any = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    created = client.interactions.create(model=MODEL, input="hello")
    assert (created.status, _text(created)) == ("completed", f"Echo from {MODEL}: hello")
    assert created.usage.total_tokens > 0
    assert client.interactions.get(created.id).id == created.id
    events = list(client.interactions.create(model=MODEL, input="streamed", stream=True))
    assert [e.event_type for e in events] == [
        "interaction.created",
        "step.start",
        *["step.delta"] * 4,  # one per word of the echo
        "step.stop",
        "interaction.completed",
    ]
    assert _streamed(events) == f"Echo from {MODEL}: streamed"
    assert events[-1].interaction.status == "completed"
    client.interactions.delete(created.id)
    with pytest.raises(Exception):  # noqa: PT011, B017 - google-genai's error, which varies
        client.interactions.get(created.id)

    post, get, stream, delete, *missing = gateway.requests
    assert [(r.method, r.path.removeprefix(PATH)) for r in (post, get, stream, delete)] == [
        ("POST", ""),
        ("GET", f"/{created.id}"),
        ("POST", ""),
        ("DELETE", f"/{created.id}"),
    ]
    assert post.model == stream.model == MODEL and post.resource is None
    assert get.resource == f"interactions/{created.id}"
    # (google-genai 2.0.0 asks again after an error)
    assert {(r.method, r.path) for r in missing} == {("GET", get.path)}
    statuses = [entry["status_code"] for entry in gateway.logs if entry["path"] == get.path]
    assert statuses == [200, 200] + [404] * len(missing)  # the GET, the DELETE, then the GETs


def test_async_calls_and_the_scripts_chunks(gateway: GatewayEmulator, build: Build) -> None:
    gateway.reply(["Hel", "lo"])
    client: Any = build(base_url=gateway.base_url, token=TOKEN)

    async def talk() -> tuple[Any, list[Any]]:
        async with client.aio as aio:
            whole = await aio.interactions.create(model=MODEL, input="hi")
            stream = await aio.interactions.create(model=MODEL, input="hi", stream=True)
            events = [event async for event in stream]
            await aio.interactions.delete(whole.id)
        return whole, events

    whole, events = asyncio.run(talk())
    assert _text(whole) == "Hello"
    assert [e.delta.text for e in events if e.event_type == "step.delta"] == ["Hel", "lo"]
    assert [r.method for r in gateway.requests] == ["POST", "POST", "DELETE"]
    assert all(r.header("x-goog-api-key") is None for r in gateway.requests)  # byok


def test_a_scripted_function_call_makes_a_round_trip(
    gateway: GatewayEmulator, build: Build
) -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}

    # One function for both turns, so a request the client sends again (CI saw one, on a
    # loaded worker) gets the same answer instead of the next in the script.
    def answer(request: RecordedRequest) -> Any:
        given = request.json["input"]
        if isinstance(given, str):
            return {"candidates": [{"content": {"role": "model", "parts": [call]}}]}
        (result,) = given
        return f"It is {result['result']['sky']} in Paris"

    gateway.reply(answer)
    client: Any = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
    asked = client.interactions.create(model=MODEL, input="weather?", tools=[tool])
    assert asked.status == "requires_action"
    (step,) = asked.steps
    assert (step.type, step.name, step.arguments) == (
        "function_call",
        "get_weather",
        call["functionCall"]["args"],
    )
    result = {
        "type": "function_result",
        "call_id": step.id,
        "name": step.name,
        "result": {"sky": "clear"},
    }
    told = client.interactions.create(model=MODEL, input=[result], previous_interaction_id=asked.id)
    assert (told.status, _text(told)) == ("completed", "It is clear in Paris")
    assert gateway.requests[-1].json["previous_interaction_id"] == asked.id


def test_faults_reach_interactions(gateway: GatewayEmulator, build: Build) -> None:
    client: Any = build(
        base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY, retries=0
    )
    with pytest.raises(Exception):  # noqa: PT011, B017 - google-genai's error, which varies
        client.interactions.create(model=MODEL, input="hi", previous_interaction_id="v1_gone")
    # google-genai 2.0.0 retries these calls on its own, so the fault outlasts its retries.
    gateway.fail_next(429, times=5, route="/interactions")
    with pytest.raises(Exception):  # noqa: PT011, B017
        client.interactions.create(model=MODEL, input="hi")
    # A stream an earlier test on this worker left open may log its 200 after the reset.
    statuses = [entry["status_code"] for entry in gateway.logs if entry["status_code"] != 200]
    assert set(statuses) == {404, 429} and statuses == sorted(statuses)
