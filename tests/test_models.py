"""The emulator serves the models Google lists, and answers any other model as Google does (404
``NOT_FOUND`` naming it) on every route, so a typo in a model name fails the app's tests."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from cfgenai.testing import GatewayEmulator

from .conftest import GOOGLE_KEY, LIVE_MODEL, MODEL, TOKEN, Build

TYPO = "gemini-2.5-flsh"
TEXT = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])


async def _live(client: genai.Client, model: str) -> None:
    async with client.aio.live.connect(model=model, config=TEXT) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="hi")])
        )
        async for message in session.receive():
            if message.server_content and message.server_content.turn_complete:
                break


def _upload(client: genai.Client) -> str:
    uploaded = client.files.upload(
        file=io.BytesIO(b'{"key": "1", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'),
        config=types.UploadFileConfig(mime_type="application/jsonl"),
    )
    assert uploaded.name
    return uploaded.name


CALLS: dict[str, Callable[[genai.Client, str], Any]] = {
    "generate": lambda c, m: c.models.generate_content(model=m, contents="hi"),
    "stream": lambda c, m: list(c.models.generate_content_stream(model=m, contents="hi")),
    "async": lambda c, m: asyncio.run(c.aio.models.generate_content(model=m, contents="hi")),
    "count": lambda c, m: c.models.count_tokens(model=m, contents="hi"),
    "embed": lambda c, m: c.models.embed_content(model=m, contents="hi"),
    "get": lambda c, m: c.models.get(model=m),
    "batch": lambda c, m: c.batches.create(
        model=m, src=[{"contents": [{"parts": [{"text": "hi"}]}]}]
    ),
    "batch from a file": lambda c, m: c.batches.create(model=m, src=_upload(c)),
    "cache": lambda c, m: c.caches.create(
        model=m, config=types.CreateCachedContentConfig(contents=["a long document"])
    ),
}
EMBEDDER = "gemini-embedding-001"


@pytest.mark.parametrize("call", CALLS)
def test_an_unknown_model_is_not_found_on_every_route(
    gateway: GatewayEmulator, build: Build, call: str
) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    with pytest.raises(errors.ClientError) as caught:
        CALLS[call](client, TYPO)
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    assert f"models/{TYPO} is not found" in str(caught.value.message)


def test_an_unknown_live_model_is_refused_at_setup(gateway: GatewayEmulator, build: Build) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    for model in (TYPO, MODEL):  # MODEL generates, but has no Live
        with pytest.raises(errors.APIError) as caught:
            asyncio.run(_live(client, model))
        assert caught.value.code == 1008
        # Google's words, cut to the 123 bytes a close frame's reason may hold
        assert (
            f"models/{model} is not found for API version v1beta, or is not supported for bidiGenerateContent"
            in str(caught.value)
        )
    asyncio.run(_live(client, LIVE_MODEL))


@pytest.mark.parametrize(
    ("call", "model"), [("generate", EMBEDDER), ("stream", EMBEDDER), ("embed", MODEL)]
)
def test_a_model_answers_only_its_own_methods(
    gateway: GatewayEmulator, build: Build, call: str, model: str
) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
    method = {
        "generate": "generateContent",
        "stream": "streamGenerateContent",
        "embed": "batchEmbedContents",  # google-genai embeds through the batch method
    }
    with pytest.raises(errors.ClientError) as caught:
        CALLS[call](client, model)
    assert caught.value.code == 404
    assert (
        f"models/{model} is not found for API version v1beta, or is not supported for {method[call]}"
        in str(caught.value.message)
    )
    CALLS["count"](client, model)  # both count tokens


def test_models_replace_the_table_and_a_test_adds_one(build: Build) -> None:
    with GatewayEmulator(token=TOKEN, models=["tunedModels-support-bot"]) as gateway:
        client = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
        assert [m.name for m in client.models.list()] == ["models/tunedModels-support-bot"]
        assert client.models.generate_content(model="tunedModels-support-bot", contents="hi").text
        with pytest.raises(errors.ClientError, match=f"models/{MODEL} is not found"):
            client.models.generate_content(model=MODEL, contents="hi")
        gateway.add_model(MODEL)
        assert client.models.get(model=MODEL).supported_actions == [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ]
        assert client.models.generate_content(model=MODEL, contents="hi").text
        gateway.reset()  # a test's model lasts until the next one
        with pytest.raises(errors.ClientError, match=f"models/{MODEL} is not found"):
            client.models.generate_content(model=MODEL, contents="hi")


def test_vertex_ai_answers_an_unknown_model_in_its_own_words(
    gateway: GatewayEmulator, build: Build
) -> None:
    client = build(
        base_url=gateway.base_url,
        token=TOKEN,
        provider="google-vertex-ai",
        vertex_project="proj",
        vertex_location="us-central1",
        vertex_access_token=GOOGLE_KEY,
    )
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=TYPO, contents="hi")
    assert caught.value.code == 404
    assert (
        f"Publisher Model `projects/proj/locations/us-central1/publishers/google/models/{TYPO}` "
        "was not found"
    ) in str(caught.value.message)
    assert client.models.generate_content(model=MODEL, contents="hi").text


def test_a_users_suite_adds_its_tuned_model(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app="""
        from cfgenai import client

        def classify(text):
            return client.models.generate_content(model="my-classifier", contents=text).text
        """,
        test_app="""
        import pytest
        from google.genai import errors

        import app

        def test_a_typo_fails_as_in_production(cf_gateway):
            with pytest.raises(errors.ClientError, match="models/my-classifier is not found"):
                app.classify("hi")

        def test_the_tuned_model_once_added(cf_gateway):
            cf_gateway.add_model("my-classifier")
            cf_gateway.reply("spam")
            assert app.classify("buy now") == "spam"
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_no_models_serves_none(build: Build) -> None:
    with GatewayEmulator(token=TOKEN, models=[]) as gateway:
        client = build(base_url=gateway.base_url, token=TOKEN, google_api_key=GOOGLE_KEY)
        assert list(client.models.list()) == []
        with pytest.raises(errors.ClientError, match=f"models/{MODEL} is not found"):
            client.models.generate_content(model=MODEL, contents="hi")
