"""What the gateway receives from the real google-genai client, over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors

import cfgenai
from cfgenai.testing import GatewayEmulator

from .conftest import ASYNC_OVER_AIOHTTP, GOOGLE_KEY, MODEL, STORED_KEY, TOKEN, Build

PATH = f"/v1/acc/gw/google-ai-studio/v1/models/{MODEL}"
BODY = {"contents": [{"parts": [{"text": "What is Cloudflare?"}], "role": "user"}]}


def _sync(client: genai.Client) -> str:
    return client.models.generate_content(model=MODEL, contents="What is Cloudflare?").text or ""


def _sync_stream(client: genai.Client) -> str:
    chunks = client.models.generate_content_stream(model=MODEL, contents="What is Cloudflare?")
    return "".join(c.text or "" for c in chunks)


def _async(client: genai.Client) -> str:
    async def call() -> str:
        async with client.aio as aio:
            response = await aio.models.generate_content(
                model=MODEL, contents="What is Cloudflare?"
            )
        return response.text or ""

    return asyncio.run(call())


def _async_stream(client: genai.Client) -> str:
    async def call() -> str:
        async with client.aio as aio:
            stream = await aio.models.generate_content_stream(
                model=MODEL, contents="What is Cloudflare?"
            )
            return "".join([c.text or "" async for c in stream])

    return asyncio.run(call())


CALLS: dict[str, tuple[Callable[[genai.Client], str], str]] = {
    "sync": (_sync, ":generateContent"),
    "sync-stream": (_sync_stream, ":streamGenerateContent"),
    "async-aiohttp": (_async, ":generateContent"),
    "async-aiohttp-stream": (_async_stream, ":streamGenerateContent"),
}


@pytest.fixture
def aiohttp_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Proof that google-genai sent through aiohttp: the URLs its sessions requested."""
    calls: list[str] = []
    original = aiohttp.ClientSession.request

    def spy(self: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> Any:
        calls.append(str(url))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "request", spy)
    return calls


def _assert_reached(gateway: GatewayEmulator, endpoint: str, answer: str) -> None:
    request = gateway.last_request
    assert len(gateway.requests) == 1
    assert request.method == "POST"
    assert request.path == PATH + endpoint
    assert request.query == ("alt=sse" if "stream" in endpoint else "")
    assert request.json == BODY
    assert request.header("content-type") == "application/json"
    assert answer == f"Echo from {MODEL}: What is Cloudflare?"


@pytest.mark.parametrize("call", list(CALLS))
def test_key_mode_sends_token_and_google_key(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_calls: list[str],
    call: str,
) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    run, endpoint = CALLS[call]
    answer = run(cfgenai.build_client())
    _assert_reached(gateway_env, endpoint, answer)
    assert gateway_env.last_request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert gateway_env.last_request.header("x-goog-api-key") == GOOGLE_KEY
    assert len(aiohttp_calls) == (1 if "aiohttp" in call and ASYNC_OVER_AIOHTTP else 0)


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("mode", ["byok", "auto"])
def test_byok_mode_sends_no_provider_key_at_all(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    aiohttp_calls: list[str],
    call: str,
    mode: str,
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", mode)
    run, endpoint = CALLS[call]
    answer = run(cfgenai.build_client())
    _assert_reached(gateway_env, endpoint, answer)
    assert gateway_env.last_request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in gateway_env.last_request.headers
    assert not any("key" in url for url in aiohttp_calls)
    assert len(aiohttp_calls) == (1 if "aiohttp" in call and ASYNC_OVER_AIOHTTP else 0)


def test_byok_even_with_a_google_key_in_the_environment(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", "byok")
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", GOOGLE_KEY)
    _sync(cfgenai.build_client())
    assert "x-goog-api-key" not in gateway_env.last_request.headers
    assert GOOGLE_KEY not in json.dumps(dict(gateway_env.last_request.headers))


# google-genai sends async requests with httpx when aiohttp cannot be imported; a child
# process where `import aiohttp` fails shows that path as users without aiohttp have it.
_WITHOUT_AIOHTTP = textwrap.dedent(
    """
    import sys
    sys.modules["aiohttp"] = None
    import asyncio, cfgenai

    async def main():
        async with cfgenai.client.aio as aio:
            response = await aio.models.generate_content(model=sys.argv[1], contents="What is Cloudflare?")
            stream = await aio.models.generate_content_stream(model=sys.argv[1], contents="What is Cloudflare?")
            chunks = [c.text async for c in stream]
        print(response.text)
        print("".join(chunks))

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_async_without_aiohttp(gateway: GatewayEmulator, mode: str) -> None:
    env = {**os.environ, **gateway.env(), "CF_AIG_MODE": mode}
    if mode == "key":
        env["GOOGLE_API_KEY"] = GOOGLE_KEY
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_AIOHTTP, MODEL],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"Echo from {MODEL}: What is Cloudflare?"] * 2
    normal, streamed = gateway.requests
    assert (normal.path, normal.query) == (PATH + ":generateContent", "")
    assert (streamed.path, streamed.query) == (PATH + ":streamGenerateContent", "alt=sse")
    for request in (normal, streamed):
        assert request.json == BODY
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
        assert request.header("x-goog-api-key") == (GOOGLE_KEY if mode == "key" else None)


@pytest.fixture
def open_gateway() -> Iterator[GatewayEmulator]:
    """An older, unauthenticated gateway: it asks for no token."""
    with GatewayEmulator(google_keys=[GOOGLE_KEY]) as emulator:
        yield emulator


def test_key_mode_without_token_sends_no_gateway_authorization(
    open_gateway: GatewayEmulator,
) -> None:
    client = cfgenai.build_client(base_url=open_gateway.base_url, google_api_key=GOOGLE_KEY)
    assert _sync(client) == f"Echo from {MODEL}: What is Cloudflare?"
    assert "cf-aig-authorization" not in open_gateway.last_request.headers
    assert open_gateway.last_request.header("x-goog-api-key") == GOOGLE_KEY


def test_api_version_goes_into_the_path(gateway_env: GatewayEmulator) -> None:
    _sync(cfgenai.build_client(api_version="v1beta"))
    assert (
        gateway_env.last_request.path
        == f"/v1/acc/gw/google-ai-studio/v1beta/models/{MODEL}:generateContent"
    )


def test_stray_google_genai_variables_do_not_redirect(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9/elsewhere")
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    monkeypatch.setenv("GOOGLE_GENAI_USE_ENTERPRISE", "true")
    monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v9")
    monkeypatch.setenv("GOOGLE_GENAI_CLIENT_MODE", "replay")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "some-project")
    _sync(cfgenai.build_client())
    assert gateway_env.last_request.path == PATH + ":generateContent"


def test_the_shared_client_reaches_the_gateway(gateway_env: GatewayEmulator) -> None:
    from cfgenai import client

    assert _sync(client) == f"Echo from {MODEL}: What is Cloudflare?"
    assert gateway_env.last_request.path == PATH + ":generateContent"


def test_retries_resend_on_5xx(gateway_env: GatewayEmulator) -> None:
    gateway_env.fail_next(503)
    assert _sync(cfgenai.build_client(retries=1))
    assert len(gateway_env.requests) == 2


def test_no_retries_when_set_to_zero(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.fail_next(503)
    with pytest.raises(errors.ServerError) as caught:
        _sync(build(retries=0))
    assert caught.value.code == 503
    assert len(gateway_env.requests) == 1


@pytest.mark.parametrize("call", ["sync", "async-aiohttp"])
def test_timeout_ends_a_stalled_request(
    gateway_env: GatewayEmulator, call: str, build: Build
) -> None:
    gateway_env.fail_next(503, delay=5)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each transport has its own type
        CALLS[call][0](build(timeout=0.2, retries=0))
    assert "timeout" in type(caught.value).__name__.lower() or isinstance(
        caught.value, TimeoutError
    )
    assert gateway_env.last_request.header("x-server-timeout") == "1"


def test_a_wrong_gateway_token_gets_the_gateway_error(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        _sync(build(token="not-the-token", retries=0))
    assert caught.value.code == 401
    assert caught.value.details["internalCode"] == 2009


def test_an_unknown_google_key_gets_googles_error(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        _sync(build(google_api_key="wrong-key", retries=0))
    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"


def test_byok_without_a_stored_key_gets_googles_error(
    gateway: GatewayEmulator, build: Build
) -> None:
    with GatewayEmulator(token=TOKEN, stored_keys={}) as bare:
        client = build(base_url=bare.base_url, token=TOKEN, retries=0)
        with pytest.raises(errors.ClientError) as caught:
            _sync(client)
    assert caught.value.code == 403
    assert STORED_KEY not in str(caught.value)


def test_google_key_equal_to_the_gateway_token_is_sent_as_byok(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, build: Build
) -> None:
    """Cloudflare's JS example puts the gateway token in the SDK's key: that is byok."""
    monkeypatch.setenv("GOOGLE_API_KEY", TOKEN)
    _sync(build())
    request = gateway_env.last_request
    assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert request.header("x-goog-api-key") is None
    assert gateway_env.upstream_requests[-1].header("x-goog-api-key") == STORED_KEY


def test_a_model_with_google_genais_prefix_reaches_the_same_url(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    build(model="models/gemini-2.5-flash").models.generate_content(
        model="models/gemini-2.5-flash", contents="hi"
    )
    assert gateway_env.last_request.path == f"{PATH}:generateContent"
