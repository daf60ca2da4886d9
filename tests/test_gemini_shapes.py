"""The emulator's own answers carry every field a real Gemini answer carries, nested and typed
as Google sends them (tests/data/gemini-2.5-flash.json holds the fields of real answers), so an
app reading ``response_id`` or the thinking tokens does not pass its tests on ``None``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.genai import types

from cfgenai.testing import GatewayEmulator

from .conftest import GOOGLE_KEY, MODEL, TOKEN, Build, sdk_http

RECORDED = json.loads((Path(__file__).parent / "data" / "gemini-2.5-flash.json").read_text())
HEADERS = {"cf-aig-authorization": f"Bearer {TOKEN}", "x-goog-api-key": GOOGLE_KEY}
PROMPT = {"contents": [{"role": "user", "parts": [{"text": "What is Cloudflare?"}]}]}


def fields(value: Any, at: str = "") -> set[str]:
    """Every field's path and type: ``usageMetadata.promptTokensDetails[].tokenCount:int``."""
    if isinstance(value, dict):
        return {found for key, item in value.items() for found in fields(item, f"{at}.{key}")}
    if isinstance(value, list):
        return {found for item in value for found in fields(item, f"{at}[]")}
    return {f"{at.lstrip('.')}:{type(value).__name__}"}


def post(gateway: GatewayEmulator, action: str, body: Any = PROMPT, model: str = MODEL) -> Any:
    url = f"{gateway.base_url}/google-ai-studio/v1beta/models/{model}:{action}"
    return sdk_http().post(url, json=body, headers=HEADERS)


def sse_chunks(text: str) -> list[Any]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_an_answer_has_the_fields_of_a_real_one(gateway: GatewayEmulator) -> None:
    answer = post(gateway, "generateContent")
    assert answer.headers["content-type"] == "application/json; charset=UTF-8"
    assert fields(answer.json()) == fields(RECORDED["generateContent"])


def test_a_streamed_answer_has_the_fields_of_a_real_one(gateway: GatewayEmulator) -> None:
    gateway.reply(["Cloudflare runs", " a global", " network."])
    answer = post(gateway, "streamGenerateContent?alt=sse")
    chunks = sse_chunks(answer.text)
    first, last = RECORDED["streamGenerateContent"]
    assert [fields(chunk) for chunk in chunks] == [fields(first)] * 2 + [fields(last)]
    assert len({chunk["responseId"] for chunk in chunks}) == 1


def test_the_sdk_reads_the_ids_and_every_token_count(
    gateway: GatewayEmulator, build: Build
) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    answer = client.models.generate_content(model=MODEL, contents="What is Cloudflare?")
    usage = answer.usage_metadata
    assert answer.response_id and answer.model_version == MODEL
    assert answer.candidates and answer.candidates[0].index == 0
    assert usage and usage.prompt_tokens_details and usage.thoughts_token_count
    assert usage.prompt_token_count == usage.prompt_tokens_details[0].token_count == 3
    assert usage.prompt_tokens_details[0].modality == types.MediaModality.TEXT
    assert usage.total_token_count == (
        usage.prompt_token_count + (usage.candidates_token_count or 0) + usage.thoughts_token_count
    )
    again = client.models.generate_content(model=MODEL, contents="What is Cloudflare?")
    assert again.response_id != answer.response_id


@pytest.mark.parametrize(
    ("model", "config"),
    [
        ("gemini-2.0-flash", {}),  # does not think
        ("gemini-2.5-flash-lite", {}),  # thinks only when asked to
        (MODEL, {"thinkingConfig": {"thinkingBudget": 0}}),  # asked not to think
    ],
)
def test_no_thinking_tokens_without_thinking(
    gateway: GatewayEmulator, model: str, config: dict[str, Any]
) -> None:
    whole = post(gateway, "generateContent", {**PROMPT, "generationConfig": config}, model)
    usage = whole.json()["usageMetadata"]
    assert "thoughtsTokenCount" not in usage
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


@pytest.mark.filterwarnings("ignore:Granular retry options are not supported:UserWarning")
def test_an_interaction_counts_the_thinking_tokens(gateway: GatewayEmulator, build: Build) -> None:
    client: Any = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    usage = client.interactions.create(model=MODEL, input="What is Cloudflare?").usage
    assert usage.total_thought_tokens > 0
    assert usage.total_tokens == (
        usage.total_input_tokens + usage.total_output_tokens + usage.total_thought_tokens
    )
