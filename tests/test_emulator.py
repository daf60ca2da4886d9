"""The gateway emulator as users get it: standalone server, pytest plugin, journal, scripts, faults."""

from __future__ import annotations

import asyncio
import http.client
import importlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from google.genai import errors, types

from cfgenai._secrets import fingerprint
from cfgenai.testing import GatewayEmulator, RecordedRequest
from cfgenai.testing._models import TABLE

from .conftest import (
    CANARIES,
    GOOGLE_KEY,
    MODEL,
    STORED_KEY,
    TOKEN,
    Build,
    needs_aiohttp_async,
    sdk_http,
)
from .recorder import Recorder

SEED_BODY = '{"contents": [{"role":"user", "parts": [{"text":"What is Cloudflare?"}]}]}'


# -- standalone ---------------------------------------------------------------------------


class Standalone:
    """`python -m cfgenai gateway` in a child process."""

    def __init__(
        self, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cfgenai", "gateway", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        assert self.process.stdout is not None
        self.banner = self.process.stdout.readline()
        self.exports = [self.process.stdout.readline().strip() for _ in range(5)]
        self.export = self.exports[0]
        self.url = self.banner.split(" on ")[1].split(" ")[0]

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.process.send_signal(sig)
        out, err = self.process.communicate(timeout=20)
        return self.process.returncode, out, err


@pytest.fixture
def standalone(tmp_path: Path) -> Iterator[Standalone]:
    server = Standalone(env={"CF_AIG_TOKEN": TOKEN, "GOOGLE_API_KEY": GOOGLE_KEY}, cwd=tmp_path)
    yield server
    if server.process.poll() is None:
        server.stop()


def _curl(url: str, *headers: str) -> dict[str, object]:
    command = ["curl", "-sS", url, "--header", "content-type: application/json"]
    for header in headers:
        command += ["--header", header]
    done = subprocess.run(
        [*command, "--data", SEED_BODY], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_seeds_curl_commands_work_against_the_standalone_server(standalone: Standalone) -> None:
    url = f"{standalone.url}/v1/0123456789abcdef0123456789abcdef/my-gateway/google-ai-studio/v1/models/gemini-2.5-flash:generateContent"
    with_key = _curl(url, f"cf-aig-authorization: Bearer {TOKEN}", f"x-goog-api-key: {GOOGLE_KEY}")
    byok = _curl(url, f"cf-aig-authorization: Bearer {TOKEN}")
    wrong = _curl(url, "cf-aig-authorization: Bearer not-the-token")
    with openai.OpenAI(api_key=TOKEN, base_url=f"{standalone.url}/v1/acc/gw/compat") as client:
        completion = client.chat.completions.create(
            model=f"google-ai-studio/{MODEL}", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == f"Echo from {MODEL}: hi"
    code, out, err = standalone.stop()
    answer = "Echo from gemini-2.5-flash: What is Cloudflare?"
    for body in (with_key, byok):
        assert body["candidates"][0]["content"]["parts"][0]["text"] == answer  # type: ignore[index]
    assert wrong == {
        "success": False,
        "result": [],
        "messages": [],
        "error": [{"code": 2009, "message": "Unauthorized"}],
        "name": "AiGatewayError",
        "httpCode": 401,
        "internalCode": 2009,
        "message": "Unauthorized",
        "description": "Unauthorized",
    }
    assert code == 0
    assert standalone.export == f"export CF_AIG_BASE_URL={standalone.url}/v1/acc/gw"
    log = out.splitlines()
    assert [line.split(" -> ")[1].split(" ")[0] for line in log[:3]] == ["200", "200", "401"]
    assert "x-goog-api-key=<sha256:" in log[0] and "x-goog-api-key" not in log[1]
    assert log[-1] == "cfgenai gateway emulator stopped"
    for canary in CANARIES:
        assert canary not in out + err + standalone.banner


def test_standalone_reads_dotenv_and_flags_override(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"CF_AIG_TOKEN={TOKEN}\nCF_AIG_GATEWAY_ID=prod\n")
    server = Standalone("--account-id", "acct", cwd=tmp_path)
    assert server.exports[1] == "# CF_AIG_TOKEN: cfgenai reads it from the .env file .env"
    try:
        root = f"{server.url}/v1/acct"
        path = "/google-ai-studio/v1/models/gemini-2.5-flash:generateContent"
        auth = f"cf-aig-authorization: Bearer {TOKEN}"
        assert "candidates" in _curl(root + "/prod" + path, auth, "x-goog-api-key: any-key-goes")
        assert _curl(root + "/staging" + path, auth)["internalCode"] == 2001
        assert _curl(f"{server.url}/v1/other/prod{path}", auth)["internalCode"] == 2001
        assert _curl(root + "/prod" + path)["internalCode"] == 2009
    finally:
        code, out, _ = server.stop(signal.SIGINT)  # Ctrl-C
        assert code == 0
        assert out.endswith("cfgenai gateway emulator stopped\n")


def test_standalone_asks_the_shell_for_a_token_other_than_the_one_found(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"CF_AIG_TOKEN={TOKEN}\n")
    server = Standalone("--token", "the-flag-token", cwd=tmp_path)
    server.stop()
    why = f"set it to the token the emulator requires, {fingerprint('the-flag-token')}"
    assert server.exports[1] == f'export CF_AIG_TOKEN="${{CF_AIG_TOKEN:?{why}}}"'
    assert TOKEN not in server.banner + "".join(server.exports)


def test_standalone_refuses_a_non_loopback_host() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cfgenai", "gateway", "--host", "0.0.0.0"],  # noqa: S104
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        "refusing to listen on 0.0.0.0, which is not a loopback address; pass --allow-remote"
        in done.stderr
    )


# -- pytest plugin --------------------------------------------------------------------------


def test_the_plugin_fixture_serves_a_users_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import cfgenai

        def test_through_the_gateway(cf_gateway):
            answer = cfgenai.client.models.generate_content(model="gemini-2.5-flash", contents="hi")
            assert answer.text == "Echo from gemini-2.5-flash: hi"
            assert cf_gateway.last_request.header("x-goog-api-key") is None
            assert cf_gateway.upstream_requests[0].header("x-goog-api-key") == "cfgenai-test-stored-key"

        def test_each_test_starts_clean(cf_gateway):
            assert cf_gateway.requests == []
            cfgenai.build_client().models.generate_content(model="gemini-2.5-flash", contents="again")
            assert len(cf_gateway.requests) == 1
        """
    )
    # In process: pytest still finds the plugin through its pytest11 entry point.
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def _send(connection: http.client.HTTPConnection, method: str) -> http.client.HTTPResponse:
    connection.request(
        "POST",
        f"/v1/acc/gw/google-ai-studio/v1beta/models/{MODEL}:{method}",
        json.dumps({"contents": [{"parts": [{"text": "hi"}], "role": "user"}]}),
        {"cf-aig-authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
    )
    return connection.getresponse()


def test_an_idle_connection_outlives_the_clients_keep_alive() -> None:
    # Connections stay open across tests: were the emulator to close an idle one first, a
    # request sent just as it closed would fail (aiohttp keeps one 15 s).
    for name in ("httpx", "httpx2"):  # google-genai's transports, whichever are installed
        if importlib.util.find_spec(name) is not None:
            limits = importlib.import_module(name).Limits()
            assert limits.keepalive_expiry < GatewayEmulator().idle_timeout, name


def test_reset_keeps_connections_open_and_counts_them_again_when_they_send(
    gateway: GatewayEmulator,
) -> None:
    idle = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    assert b"Echo" in _send(idle, "generateContent").read()  # and the connection kept alive
    gateway.reply(["one ", "two ", "three"], chunk_delay=0.1)
    busy = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    streaming = _send(busy, "streamGenerateContent?alt=sse")  # its chunks are on their way
    assert gateway.connections == 2

    gateway.reset()
    assert gateway.connections == 0
    assert b"three" in streaming.read()  # an answer under way is not cut
    for _ in range(2):  # the same connection (http.client would reconnect silently otherwise)
        sock = idle.sock
        assert b"Echo" in _send(idle, "generateContent").read()  # the script was reset too
        assert idle.sock is sock
    assert gateway.connections == 1  # counted once since the reset
    assert b"Echo" in _send(busy, "generateContent").read()
    assert gateway.connections == 2
    idle.close()
    busy.close()


# -- journal and scripted answers ------------------------------------------------------------


def test_journal_reads_well_in_assertions(gateway_env: GatewayEmulator, build: Build) -> None:
    client = build()
    client.models.generate_content(model="gemini-2.5-pro", contents="one")
    client.models.generate_content(model=MODEL, contents="two")
    client.models.count_tokens(model=MODEL, contents="three")
    assert [r.json["contents"][0]["parts"][0]["text"] for r in gateway_env.requests_to(MODEL)] == [
        "two",
        "three",
    ]
    request = gateway_env.requests_to("gemini-2.5-pro")[0]
    assert isinstance(request, RecordedRequest)
    assert request.header("CF-AIG-Authorization") == f"Bearer {TOKEN}"
    assert request.model == "gemini-2.5-pro"
    assert TOKEN not in repr(request)


def test_scripted_fixed_text_function_and_sequence(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    client = build()

    def ask(prompt: str = "hi") -> str:
        return client.models.generate_content(model=MODEL, contents=prompt).text or ""

    gateway_env.reply("Fixed.")
    assert [ask(), ask()] == ["Fixed.", "Fixed."]
    gateway_env.reply(lambda request: request.json["contents"][0]["parts"][0]["text"].upper())
    assert ask("shout") == "SHOUT"
    gateway_env.reply("first", "second", "last")
    assert [ask(), ask(), ask(), ask()] == ["first", "second", "last", "last"]


def test_scripted_stream_chunks(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.reply(["Hel", "lo", " world"], chunk_delay=0.05)
    chunks = build().models.generate_content_stream(model=MODEL, contents="hi")
    assert [c.text for c in chunks] == ["Hel", "lo", " world"]


# -- faults and what the client does with them -------------------------------------------------


def test_error_with_retry_after_is_retried_then_raised(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    gateway_env.fail_next(429, retry_after=1, times=5)
    with pytest.raises(errors.ClientError) as caught:
        build(retries=1).models.generate_content(model=MODEL, contents="hi")
    assert caught.value.code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert len(gateway_env.requests) == 2


def test_fault_for_one_route_leaves_the_others_alone(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    gateway_env.fail_next(500, route=":streamGenerateContent", times=3)
    client = build(retries=0)
    assert client.models.generate_content(model=MODEL, contents="hi").text
    with pytest.raises(errors.ServerError):
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))


def test_stalled_answer_times_out(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.stall_next(3)
    with pytest.raises(sdk_http().TimeoutException):
        build(timeout=0.2, retries=0).models.generate_content(model=MODEL, contents="hi")


def test_slow_stream_arrives_whole(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.slow_stream_next(0.05)
    chunks = list(build().models.generate_content_stream(model=MODEL, contents="hi"))
    assert "".join(c.text or "" for c in chunks) == f"Echo from {MODEL}: hi"
    assert chunks[-1].candidates[0].finish_reason == "STOP"  # type: ignore[index]


def test_connection_dropped_mid_stream_raises_after_the_chunks_sent(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    gateway_env.drop_next(after_chunks=2)
    received: list[str] = []

    def read() -> None:
        for chunk in build(retries=0).models.generate_content_stream(
            model=MODEL, contents="a b c d"
        ):
            received.append(chunk.text or "")

    with pytest.raises(sdk_http().RemoteProtocolError, match="incomplete chunked read"):
        read()
    assert received == ["Echo", " from"]


@needs_aiohttp_async
def test_connection_dropped_mid_stream_raises_with_aiohttp(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    gateway_env.drop_next(after_chunks=1)

    async def read() -> list[str]:
        received = []
        async with build(retries=0).aio as aio:
            async for chunk in await aio.models.generate_content_stream(
                model=MODEL, contents="a b"
            ):
                received.append(chunk.text or "")
        return received

    with pytest.raises(aiohttp.ClientPayloadError):
        asyncio.run(read())


def test_dropped_plain_answer_raises(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.drop_next()
    with pytest.raises(sdk_http().RemoteProtocolError, match="incomplete chunked read"):
        build(retries=0).models.generate_content(model=MODEL, contents="hi")


def test_malformed_bodies_raise(gateway_env: GatewayEmulator, build: Build) -> None:
    client = build(retries=0)
    gateway_env.garble_next()
    with pytest.raises(json.JSONDecodeError):
        client.models.generate_content(model=MODEL, contents="hi")
    gateway_env.garble_next()
    with pytest.raises(errors.UnknownApiResponseError, match="Failed to parse response as JSON"):
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))


# -- more of the API -----------------------------------------------------------------------------


def test_count_tokens_embeddings_and_models(gateway_env: GatewayEmulator, build: Build) -> None:
    client = build()
    assert client.models.count_tokens(model=MODEL, contents="one two three").total_tokens == 3
    embedded = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b", "a"])
    vectors = [e.values for e in embedded.embeddings or []]
    assert len(vectors) == 3 and vectors[0] == vectors[2] != vectors[1]
    assert [m.name for m in client.models.list()] == [f"models/{m.name}" for m in TABLE]
    assert client.models.get(model="gemini-2.5-pro").name == "models/gemini-2.5-pro"
    with pytest.raises(errors.ClientError) as caught:
        client.models.get(model="gemini-0-nonexistent")
    assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
    paths = [(r.method, r.path.split("/google-ai-studio")[1]) for r in gateway_env.requests]
    assert paths == [
        ("POST", f"/v1/models/{MODEL}:countTokens"),
        ("POST", "/v1/models/gemini-embedding-001:batchEmbedContents"),
        ("GET", "/v1/models"),
        ("GET", "/v1/models/gemini-2.5-pro"),
        ("GET", "/v1/models/gemini-0-nonexistent"),
    ]


def test_unknown_methods_and_routes_get_errors_not_crashes(gateway: GatewayEmulator) -> None:
    auth = {"cf-aig-authorization": f"Bearer {TOKEN}", "x-goog-api-key": GOOGLE_KEY}
    with sdk_http().Client(base_url=gateway.base_url, headers=auth) as raw:
        unknown_method = raw.post(f"/google-ai-studio/v1/models/{MODEL}:teleport", json={})
        unknown_provider = raw.post("/openai/chat/completions", json={})
        not_json = raw.post(f"/google-ai-studio/v1/models/{MODEL}:generateContent", content=b"{")
        outside = raw.get(gateway.url + "/favicon.ico")
    assert (unknown_method.status_code, unknown_method.json()["error"]["status"]) == (
        404,
        "NOT_FOUND",
    )
    assert (unknown_provider.status_code, unknown_provider.json()["internalCode"]) == (400, 7000)
    assert (not_json.status_code, not_json.json()["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert (outside.status_code, outside.json()["internalCode"]) == (400, 7000)


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_openai_client_on_the_compat_endpoint(gateway: GatewayEmulator, mode: str) -> None:
    api_key = GOOGLE_KEY if mode == "key" else TOKEN
    with openai.OpenAI(
        api_key=api_key,
        base_url=f"{gateway.base_url}/compat",
        default_headers={"cf-aig-authorization": f"Bearer {TOKEN}"},
    ) as client:
        model = f"google-ai-studio/{MODEL}"
        messages = [{"role": "user", "content": "What is Cloudflare?"}]
        completion = client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]
        stream = client.chat.completions.create(model=model, messages=messages, stream=True)  # type: ignore[arg-type]
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    answer = f"Echo from {MODEL}: What is Cloudflare?"
    assert completion.choices[0].message.content == streamed == answer
    assert completion.choices[0].finish_reason == "stop"
    request = gateway.requests[0]
    assert request.path == "/v1/acc/gw/compat/chat/completions"
    assert request.json["model"] == model
    used = [r.header("x-goog-api-key") for r in gateway.upstream_requests]
    assert used == [GOOGLE_KEY, GOOGLE_KEY] if mode == "key" else [STORED_KEY, STORED_KEY]
    assert [r.params.get("alt") for r in gateway.upstream_requests] == [None, "sse"]


def test_compat_rejects_a_model_without_the_provider_prefix(gateway: GatewayEmulator) -> None:
    with (
        openai.OpenAI(api_key=TOKEN, base_url=f"{gateway.base_url}/compat") as client,
        pytest.raises(openai.BadRequestError, match="google-ai-studio"),
    ):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])


def test_drop_after_more_chunks_than_the_stream_has_still_cuts_it(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    gateway_env.reply(["one", " two"])
    gateway_env.drop_next(after_chunks=5)
    received: list[str] = []

    def read() -> None:
        for chunk in build(retries=0).models.generate_content_stream(model=MODEL, contents="hi"):
            received.append(chunk.text or "")

    with pytest.raises(sdk_http().RemoteProtocolError, match="incomplete chunked read"):
        read()
    assert received == ["one", " two"]


# -- issue 20: any Gemini answer, routes it does not serve, a gateway without a token -----------


def _call(client: Any, **config: Any) -> Any:
    return client.models.generate_content(
        model=MODEL, contents="hi", config=types.GenerateContentConfig(**config) if config else None
    )


def test_reply_scripts_function_calls_json_candidates_and_safety(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    call = types.Part(function_call=types.FunctionCall(name="lookup", args={"q": "x"}))
    gateway_env.reply(
        types.GenerateContentResponse(
            candidates=[types.Candidate(content=types.Content(role="model", parts=[call]))]
        ),
        {"candidates": [{"content": {"role": "model", "parts": [{"text": '{"n": 3}'}]}}]},
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "a"}]}, "index": 0},
                {"content": {"role": "model", "parts": [{"text": "b"}]}, "index": 1},
            ],
            "usageMetadata": {
                "promptTokenCount": 7,
                "candidatesTokenCount": 2,
                "totalTokenCount": 9,
            },
        },
        {"promptFeedback": {"blockReason": "SAFETY"}},
        {
            "candidates": [
                {
                    "finishReason": "SAFETY",
                    "safetyRatings": [
                        {
                            "category": "HARM_CATEGORY_HARASSMENT",
                            "probability": "HIGH",
                            "blocked": True,
                        }
                    ],
                }
            ]
        },
    )
    client = build()
    assert _call(client).function_calls[0].args == {"q": "x"}
    parsed = _call(
        client,
        response_mime_type="application/json",
        response_schema={"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
    )
    assert parsed.parsed == {"n": 3}
    both = _call(client, candidate_count=2)
    assert [c.content.parts[0].text for c in both.candidates] == ["a", "b"]
    assert both.usage_metadata.total_token_count == 9
    assert _call(client).prompt_feedback.block_reason == types.BlockedReason.SAFETY
    blocked = _call(client)
    assert blocked.candidates[0].finish_reason == types.FinishReason.SAFETY and blocked.text is None


def test_a_scripted_reply_is_served_as_given_and_left_unchanged(
    gateway: GatewayEmulator, build: Build
) -> None:
    # A call with cached content adds its cached tokens to the answer: to a copy only.
    text = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Paris"}]}}]}
    given = json.loads(json.dumps(text))
    client = build(base_url=gateway.base_url, token=TOKEN)
    cache = client.caches.create(model=MODEL, config={"contents": ["long"], "ttl": "60s"})
    for reply in (text, [text], lambda request: text):
        gateway.reply(reply)
        cached = client.models.generate_content(
            model=MODEL, contents="hi", config={"cached_content": cache.name}
        )
        assert cached.usage_metadata.cached_content_token_count == 1
        plain = client.models.generate_content(model=MODEL, contents="hi")
        assert plain.text == "Paris" and plain.usage_metadata is None
        streamed = client.models.generate_content_stream(
            model=MODEL, contents="hi", config={"cached_content": cache.name}
        )
        assert [c.usage_metadata.cached_content_token_count for c in streamed] == [1]
        assert client.models.generate_content(model=MODEL, contents="hi").usage_metadata is None
        assert text == given


def test_reply_as_a_function_of_the_request_and_as_stream_chunks(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    gateway_env.reply(
        lambda request: [
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "you said "}]}}]},
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [{"text": request.json["contents"][-1]["parts"][0]["text"]}],
                        },
                        "finishReason": "STOP",
                    }
                ]
            },
        ]
    )
    client = build()
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hello"))
    assert [c.text for c in chunks] == ["you said ", "hello"]
    assert _call(client).text == "you said hi"  # a non-streamed call gets the chunks merged


def test_a_route_the_emulator_does_not_serve_says_so(gateway_env: GatewayEmulator) -> None:
    status, body = _raw(gateway_env, "GET", "/v1/acc/gw/google-ai-studio/v1beta/tunedModels", TOKEN)
    assert status == 404
    assert body["error"]["message"] == (
        "the cfgenai gateway emulator does not serve GET /v1beta/tunedModels"
    )


def _raw(gateway: GatewayEmulator, method: str, path: str, token: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=5)
    headers = {"cf-aig-authorization": f"Bearer {token}", "x-goog-api-key": GOOGLE_KEY}
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    status, body = response.status, json.loads(response.read())
    connection.close()
    return status, body


def test_an_emulator_without_a_token_gives_an_env_a_client_can_use(
    monkeypatch: pytest.MonkeyPatch, build: Build
) -> None:
    with GatewayEmulator() as open_gateway:
        for name, value in open_gateway.env().items():
            monkeypatch.setenv(name, value)
        assert build().models.generate_content(model=MODEL, contents="hi").text
        assert open_gateway.upstream_requests[-1].header("x-goog-api-key") is not None


def test_resources_and_live_frames_name_what_they_are_about(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    client = build()
    file = client.files.upload(file=io.BytesIO(b"data"), config={"mime_type": "text/plain"})
    client.files.get(name=file.name)
    cache = client.caches.create(model=MODEL, config={"contents": ["long"], "ttl": "60s"})
    client.caches.get(name=cache.name)
    resources = [r.resource for r in gateway_env.requests if r.resource]
    assert resources == [file.name, cache.name]
    assert gateway_env.requests_to(MODEL) == []  # no model call yet
    client.models.generate_content(
        model=MODEL, contents="hi", config={"cached_content": cache.name}
    )
    assert gateway_env.requests_to(MODEL)[-1].json["cachedContent"] == cache.name


def test_a_cached_content_expires_on_the_emulators_clock(build: Build) -> None:
    now = [0.0]
    with GatewayEmulator(token=TOKEN, clock=lambda: now[0]) as gateway:
        client = build(base_url=gateway.base_url, token=TOKEN)
        cache = client.caches.create(model=MODEL, config={"contents": ["long"], "ttl": "60s"})
        answer = client.models.generate_content(
            model=MODEL, contents="hi", config={"cached_content": cache.name}
        )
        assert answer.usage_metadata.cached_content_token_count == 1
        now[0] = 61
        with pytest.raises(errors.ClientError, match="CachedContent not found"):
            client.caches.get(name=cache.name)


def test_an_upload_answer_carries_only_its_own_gateway_headers() -> None:
    # The gateway adds cf-aig-* headers to each answer; one upload's must not reach the next.
    http = sdk_http()
    with GatewayEmulator() as gateway:
        root = f"{gateway.base_url}/google-ai-studio"

        def upload() -> Any:
            start = http.post(
                f"{root}/upload/v1beta/files",
                headers={
                    "x-goog-upload-protocol": "resumable",
                    "x-goog-upload-command": "start",
                    "x-goog-upload-header-content-length": "2",
                },
                json={"file": {}},
            )
            google = http.URL(start.headers["x-goog-upload-url"])  # Google's, as a proxy passes it
            return http.post(
                f"{root}{google.raw_path.decode()}",
                headers={"x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
                content=b"hi",
            )

        gateway.dlp_next(route="/upload/", times=2)  # the start and the chunk of one upload
        assert "cf-aig-dlp" in upload().headers
        second = upload()
        assert second.headers["x-goog-upload-status"] == "final"
        assert "cf-aig-dlp" not in second.headers


def test_an_upload_url_on_another_host_is_refused_naming_it(build: Build) -> None:
    from cfgenai import OffGatewayError  # noqa: F401 - the public name

    with Recorder(upload_host="https://uploads.example.net") as recorder:
        client = build(base_url=recorder.root, token=TOKEN, google_api_key=GOOGLE_KEY)
        with pytest.raises(errors.APIError) as caught:
            client.files.upload(file=io.BytesIO(b"data"), config={"mime_type": "text/plain"})
        assert caught.value.code == 421 and "https://uploads.example.net" in str(caught.value)
        assert len(recorder.seen) == 1  # the start; nothing went to the other host
    for canary in CANARIES:
        assert canary not in str(caught.value)
