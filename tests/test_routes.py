"""Beyond the seed: Vertex AI, the OpenAI-compatible endpoint, custom domains, Cloudflare Access."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import cfgenai
import cfgenai.openai
from cfgenai import ConfigError, GatewaySettings
from cfgenai.testing import GatewayEmulator

from .conftest import GOOGLE_KEY, MODEL, STORED_KEY, TOKEN, VERTEX_TOKEN, Build
from .test_wire import _WITHOUT_AIOHTTP, CALLS

VERTEX_PATH = "/v1/acc/gw/google-vertex-ai/v1/projects/my-project/locations/us-central1/publishers/google/models"


@pytest.fixture
def vertex_env(gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch) -> GatewayEmulator:
    monkeypatch.setenv("CF_AIG_PROVIDER", "google-vertex-ai")
    monkeypatch.setenv("CF_AIG_VERTEX_PROJECT", "my-project")
    monkeypatch.setenv("CF_AIG_VERTEX_LOCATION", "us-central1")
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)  # must never reach Vertex AI requests
    return gateway_env


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("mode", ["byok", "key"])
def test_vertex_ai_path_and_credentials(
    vertex_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, build: Build, call: str, mode: str
) -> None:
    if mode == "key":
        monkeypatch.setenv("CF_AIG_VERTEX_ACCESS_TOKEN", VERTEX_TOKEN)
    run, endpoint = CALLS[call]
    assert run(build()) == f"Echo from {MODEL}: What is Cloudflare?"
    request = vertex_env.last_request
    assert request.path == f"{VERTEX_PATH}/{MODEL}{endpoint}"
    assert request.query == ("alt=sse" if "stream" in endpoint else "")
    assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert request.header("x-goog-api-key") is None
    assert request.header("authorization") == (f"Bearer {VERTEX_TOKEN}" if mode == "key" else None)
    upstream = vertex_env.upstream_requests[-1]
    assert (
        upstream.header("authorization")
        == f"Bearer {VERTEX_TOKEN if mode == 'key' else STORED_KEY}"
    )
    assert not any(name.startswith("cf-") for name in upstream.headers)


def test_vertex_ai_async_without_aiohttp(vertex_env: GatewayEmulator) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_AIOHTTP, MODEL],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [r.path for r in vertex_env.requests] == [
        f"{VERTEX_PATH}/{MODEL}:generateContent",
        f"{VERTEX_PATH}/{MODEL}:streamGenerateContent",
    ]
    assert all(r.header("x-goog-api-key") is None for r in vertex_env.requests)


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"CF_AIG_VERTEX_PROJECT": ""},
            # No note on a missing .env: the cf_gateway fixture reads none (CF_AIG_ENV_FILE="").
            "CF_AIG_VERTEX_PROJECT: not set; google-vertex-ai needs the Google Cloud project",
        ),
        (
            {"CF_AIG_VERTEX_PROJECT": "a/../b"},
            "CF_AIG_VERTEX_PROJECT: may hold only letters, digits, '.', ':', '_' and '-' (it has 6 characters, including punctuation)",
        ),
        (
            {"CF_AIG_VERTEX_PROJECT": ".."},
            "CF_AIG_VERTEX_PROJECT: must be a name, not '.' or '..' (which would change the request path)",
        ),
        (
            {"CF_AIG_VERTEX_LOCATION": "."},
            "CF_AIG_VERTEX_LOCATION: must be a name, not '.' or '..' (which would change the request path)",
        ),
        (
            {"CF_AIG_MODEL": "models/gemini-2.5-flash"},
            "CF_AIG_MODEL: on google-vertex-ai name the model alone, e.g. gemini-2.5-flash (the models/ and tunedModels/ prefixes are the Gemini API's)",
        ),
        (
            {"CF_AIG_MODE": "key"},
            "CF_AIG_MODE=key needs the provider's credential: set CF_AIG_VERTEX_ACCESS_TOKEN or CF_AIG_VERTEX_CREDENTIALS, or use CF_AIG_MODE=byok to let the gateway add the credential it stores",
        ),
        (
            {"CF_AIG_PROVIDER": "vertex"},
            "CF_AIG_PROVIDER: must be google-ai-studio (the Gemini API) or google-vertex-ai (Gemini on Vertex AI)",
        ),
    ],
)
def test_vertex_ai_bad_configuration(
    vertex_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], problem: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert caught.value.problems == (problem,)


# -- the OpenAI-compatible endpoint ---------------------------------------------------------------


def test_compat_model_names() -> None:
    assert cfgenai.openai.compat_model("gemini-2.5-flash") == "google-ai-studio/gemini-2.5-flash"
    assert (
        cfgenai.openai.compat_model("google-ai-studio/gemini-2.5-pro")
        == "google-ai-studio/gemini-2.5-pro"
    )


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_openai_client_through_the_gateway(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    if mode == "key":
        monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("CF_AIG_METADATA", '{"team":"search"}')
    messages = [{"role": "user", "content": "What is Cloudflare?"}]
    with cfgenai.openai.openai_client() as client:
        completion = client.chat.completions.create(
            model=cfgenai.openai.compat_model(MODEL), messages=messages
        )  # type: ignore[arg-type]
        stream = client.chat.completions.create(
            model=cfgenai.openai.compat_model(MODEL), messages=messages, stream=True
        )  # type: ignore[arg-type]
        streamed = "".join(c.choices[0].delta.content or "" for c in stream)

    async def ask_async() -> str | None:
        async with cfgenai.openai.async_openai_client() as aclient:
            answer = await aclient.chat.completions.create(
                model=cfgenai.openai.compat_model(MODEL), messages=messages
            )  # type: ignore[arg-type]
        return answer.choices[0].message.content

    answer = f"Echo from {MODEL}: What is Cloudflare?"
    assert completion.choices[0].message.content == streamed == asyncio.run(ask_async()) == answer
    for request in gateway_env.requests:
        assert request.path == "/v1/acc/gw/compat/chat/completions"
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
        assert request.header("authorization") == f"Bearer {GOOGLE_KEY if mode == 'key' else TOKEN}"
        assert request.header("cf-aig-metadata") == '{"team":"search"}'
        assert request.header("x-goog-api-key") is None
    expected_key = GOOGLE_KEY if mode == "key" else STORED_KEY
    assert [r.header("x-goog-api-key") for r in gateway_env.upstream_requests] == [expected_key] * 3


def test_openai_client_refuses_vertex(vertex_env: GatewayEmulator) -> None:
    with pytest.raises(
        ConfigError, match="the OpenAI-compatible client serves Google AI Studio models"
    ):
        cfgenai.openai.openai_client()


# -- custom domains and Cloudflare Access -----------------------------------------------------------


@pytest.fixture
def custom_domain() -> Iterator[GatewayEmulator]:
    """A gateway behind Cloudflare Access on its own domain: the root has no account or gateway."""
    with GatewayEmulator(
        token=TOKEN, access_token="canary-access-jwt-7c1f", stored_keys={"default": STORED_KEY}
    ) as emulator:
        yield emulator


@pytest.mark.parametrize("credential", ["access-token", "gateway-token"])
def test_custom_domain_serves_every_route(
    custom_domain: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, build: Build, credential: str
) -> None:
    monkeypatch.setenv("CF_AIG_BASE_URL", custom_domain.url)
    if credential == "access-token":
        monkeypatch.setenv("CF_AIG_ACCESS_TOKEN", "canary-access-jwt-7c1f")
    else:
        monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    assert build().models.generate_content(model=MODEL, contents="hi").text
    vertex = build(provider="google-vertex-ai", vertex_project="p", vertex_location="europe-west4")
    assert vertex.models.generate_content(model=MODEL, contents="hi").text
    with cfgenai.openai.openai_client() as client:
        client.chat.completions.create(
            model=cfgenai.openai.compat_model(MODEL), messages=[{"role": "user", "content": "hi"}]
        )
    assert [r.path for r in custom_domain.requests] == [
        f"/google-ai-studio/v1/models/{MODEL}:generateContent",
        f"/google-vertex-ai/v1/projects/p/locations/europe-west4/publishers/google/models/{MODEL}:generateContent",
        "/compat/chat/completions",
    ]
    for request in custom_domain.requests:
        if credential == "access-token":
            assert request.header("cf-access-token") == "canary-access-jwt-7c1f"
            assert request.header("cf-aig-authorization") is None  # the Access token replaced it
        else:
            assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
            assert request.header("cf-access-token") is None
    assert not any("cf-access-token" in r.headers for r in custom_domain.upstream_requests)


def test_access_service_token_headers(gateway_env: GatewayEmulator, build: Build) -> None:
    client = build(
        access_client_id="client-id.access", access_client_secret="canary-access-secret-31"
    )
    client.models.generate_content(model=MODEL, contents="hi")
    request = gateway_env.last_request
    assert request.header("cf-access-client-id") == "client-id.access"
    assert request.header("cf-access-client-secret") == "canary-access-secret-31"
    with pytest.raises(ConfigError, match="a Cloudflare Access service token needs both"):
        GatewaySettings(access_client_id="client-id.access")


def test_global_location_is_routed(vertex_env: GatewayEmulator, build: Build) -> None:
    client = build(
        vertex_location="global"
    )  # limited model support, but some models are only there
    assert client.models.generate_content(model=MODEL, contents="hi").text
    assert "/projects/my-project/locations/global/publishers/" in vertex_env.last_request.path
