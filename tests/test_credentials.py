"""Vertex AI with Google credentials that refresh (a service account key, user credentials,
Application Default Credentials, a google.auth object), refreshed once however many threads
and event loops ask; and every bad input, refusal and description without a secret."""

from __future__ import annotations

import asyncio
import copy
import logging
import pickle
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import _api_client

import cfgenai
from cfgenai import ConfigError
from cfgenai._google_errors import TokenRefreshError
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, MODEL, TOKEN, Build
from .recorder import Recorder
from .tokens import CLIENT_SECRET, PRIVATE_KEY_ID, REFRESH_TOKEN, SERVICE_ACCOUNT, TokenServer

VERTEX = {
    "provider": "google-vertex-ai",
    "vertex_project": "proj",
    "vertex_location": "us-central1",
}
SECRETS = (*CANARIES, PRIVATE_KEY_ID, REFRESH_TOKEN, CLIENT_SECRET, "PRIVATE KEY")


@pytest.fixture
def tokens(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[TokenServer]:
    """A token endpoint, and no way to Google's own credentials of the machine."""
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # gcloud's files: none
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # no metadata server: refused at once
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    server = TokenServer()
    # google-auth sends user credentials to Google's endpoint whatever their file says.
    monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", server.uri)
    yield server
    server.close()


@pytest.fixture
def vertex(tokens: TokenServer) -> Iterator[GatewayEmulator]:
    """An emulator whose Google accepts exactly the tokens the token endpoint issued."""
    with GatewayEmulator(token=TOKEN, google_keys=tokens.accepts) as gateway:
        yield gateway


def _source(kind: str, tokens: TokenServer, folder: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    if kind == "service account file":
        return str(tokens.service_account_file(folder))
    if kind == "authorized user file":
        return str(tokens.authorized_user_file(folder))
    if kind == "adc":
        monkeypatch.setenv(
            "GOOGLE_APPLICATION_CREDENTIALS", str(tokens.service_account_file(folder))
        )
        return "adc"
    return google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
        None,
        refresh_token=REFRESH_TOKEN,
        client_id="canary-client",
        client_secret=CLIENT_SECRET,
        token_uri=tokens.uri,
    )


def _ask(build: Build, settings: dict[str, Any], call: str) -> None:
    """One request, from a new client (the credentials are shared: one token for all)."""
    client = build(**settings)
    if call == "sync":
        assert client.models.generate_content(model=MODEL, contents="hi").text
    elif call == "stream":
        assert list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    else:

        async def ask() -> None:
            async with client.aio as aio:
                assert (await aio.models.generate_content(model=MODEL, contents="hi")).text

        asyncio.run(ask())


SOURCES = ["service account file", "authorized user file", "adc", "credentials object"]
CALLS = ["sync", "stream", "async-aiohttp", "async-httpx"]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("source", SOURCES)
def test_vertex_ai_sends_the_credentials_token_and_refreshes_it_when_it_expires(
    vertex: GatewayEmulator,
    tokens: TokenServer,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
    call: str,
) -> None:
    if call == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    credentials = _source(source, tokens, tmp_path, monkeypatch)
    tokens.expires_in = 200  # within google-auth's early refresh: stale at once
    given = "credentials" if source == "credentials object" else "vertex_credentials"
    settings = {"base_url": vertex.base_url, "token": TOKEN, **VERTEX, given: credentials}
    _ask(build, settings, call)
    _ask(build, settings, call)
    first, second = vertex.upstream_requests
    assert first.header("authorization") == "Bearer issued-access-token-1"
    assert second.header("authorization") == "Bearer issued-access-token-2"  # refreshed
    for request in vertex.requests:
        assert request.path.startswith(
            "/v1/acc/gw/google-vertex-ai/v1/projects/proj/locations/us-central1/"
        )
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
        assert request.header("x-goog-api-key") is None
    tokens.expires_in = 3600
    _ask(build, settings, call)
    _ask(build, settings, call)
    assert len(tokens.grants) == 3  # a valid token is used as it is


def test_an_independent_server_sees_the_same_token(
    tokens: TokenServer, build: Build, tmp_path: Path
) -> None:
    with Recorder() as recorder:
        client = build(
            base_url=recorder.root,
            token=TOKEN,
            vertex_credentials=str(tokens.service_account_file(tmp_path)),
            **VERTEX,
        )
        client.models.generate_content(model=MODEL, contents="hi")
        (seen,) = recorder.seen
    assert seen.header("authorization") == "Bearer issued-access-token-1"
    assert seen.header("cf-aig-authorization") == f"Bearer {TOKEN}"


def test_32_threads_and_32_tasks_share_one_refresh(
    vertex: GatewayEmulator, tokens: TokenServer, build: Build, tmp_path: Path
) -> None:
    tokens.delay = 0.2  # every caller arrives while the first refresh is under way
    source = str(tokens.service_account_file(tmp_path))
    client = build(base_url=vertex.base_url, token=TOKEN, vertex_credentials=source, **VERTEX)

    def sync() -> None:  # each thread its own client: google-genai's own lock is per client
        own = build(base_url=vertex.base_url, token=TOKEN, vertex_credentials=source, **VERTEX)
        own.models.generate_content(model=MODEL, contents="hi")

    async def tasks() -> None:
        await asyncio.gather(
            *(client.aio.models.generate_content(model=MODEL, contents="hi") for _ in range(32))
        )

    threads = [threading.Thread(target=sync) for _ in range(32)]
    threads.append(threading.Thread(target=asyncio.run, args=(tasks(),)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(vertex.upstream_requests) == 64
    assert len(tokens.grants) == 1
    assert {r.header("authorization") for r in vertex.upstream_requests} == {
        "Bearer issued-access-token-1"
    }


@pytest.mark.parametrize("call", ["sync", "async-aiohttp"])
def test_a_refused_refresh_names_the_endpoint_and_the_reason_and_no_secret(
    vertex: GatewayEmulator, tokens: TokenServer, build: Build, tmp_path: Path, call: str
) -> None:
    tokens.refuse = True
    settings = {
        "base_url": vertex.base_url,
        "token": TOKEN,
        "vertex_credentials": str(tokens.service_account_file(tmp_path)),
        **VERTEX,
    }
    with pytest.raises(TokenRefreshError) as caught:
        _ask(build, settings, call)
    message = str(caught.value)
    assert message.startswith(
        "could not get a Google access token for Vertex AI from the token endpoint 127.0.0.1: "
        "invalid_grant: Account has been deleted"
    )
    for secret in SECRETS:
        assert secret not in message + repr(caught.value)
    assert vertex.requests == []  # nothing was sent without a token


def test_an_unreachable_token_endpoint_is_named(
    vertex: GatewayEmulator, tokens: TokenServer, build: Build, tmp_path: Path
) -> None:
    path = tokens.service_account_file(tmp_path)
    tokens.close()
    client = build(base_url=vertex.base_url, token=TOKEN, vertex_credentials=str(path), **VERTEX)
    with pytest.raises(TokenRefreshError, match=r"from the token endpoint 127\.0\.0\.1: "):
        client.models.generate_content(model=MODEL, contents="hi")


def test_a_rotated_credentials_file_is_loaded_again_at_the_next_refresh(
    vertex: GatewayEmulator, tokens: TokenServer, build: Build, tmp_path: Path
) -> None:
    path = tokens.service_account_file(tmp_path)
    tokens.expires_in = 200
    client = build(base_url=vertex.base_url, token=TOKEN, vertex_credentials=str(path), **VERTEX)
    client.models.generate_content(model=MODEL, contents="hi")
    authorized = tokens.authorized_user_file(tmp_path)
    authorized.replace(path)  # the mounted secret now holds user credentials
    client.models.generate_content(model=MODEL, contents="hi")
    assert tokens.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer", "refresh_token"]


def test_a_rotated_credentials_file_that_cannot_be_loaded_leaves_the_last_ones_in_use(
    vertex: GatewayEmulator,
    tokens: TokenServer,
    build: Build,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tokens.service_account_file(tmp_path)
    tokens.expires_in = 200  # expired at once for google-auth: every request refreshes
    client = build(base_url=vertex.base_url, token=TOKEN, vertex_credentials=str(path), **VERTEX)
    client.models.generate_content(model=MODEL, contents="hi")
    caplog.set_level(logging.WARNING, logger="cfgenai")
    path.write_text('{"type": "service_account", "private_')  # caught being rewritten
    for _ in range(3):
        client.models.generate_content(model=MODEL, contents="hi")
    assert tokens.grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"] * 4
    assert [r.getMessage() for r in caplog.records if r.name == "cfgenai"] == [
        f"CF_AIG_VERTEX_CREDENTIALS: {path} is not JSON; download the key again; cfgenai keeps "
        "the credentials it loaded before"
    ]
    tokens.authorized_user_file(tmp_path).replace(path)  # whole again: loaded
    client.models.generate_content(model=MODEL, contents="hi")
    assert tokens.grants[-1] == "refresh_token"


BAD = [
    ("missing.json", "does not exist; point it at a credentials JSON file, or set it to adc"),
    ("folder", "is a folder; point it at a credentials JSON file"),
    ("large.json", "is larger than 64 KiB; point it at a credentials JSON file, or set it to adc"),
    ("nested.json", "is not JSON; download the key again"),
    ("not-json.json", "is not JSON; download the key again"),
    ("unknown-type.json", "holds credentials of type 'api_key', which cfgenai cannot load"),
    ("refused.json", "is a service account key file that google-auth refused: Service account"),
]


@pytest.mark.parametrize(("name", "problem"), BAD)
def test_a_bad_credentials_file_is_a_config_error_naming_it(
    vertex: GatewayEmulator, build: Build, tmp_path: Path, name: str, problem: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "large.json").write_text(f'{{"key": "{PRIVATE_KEY_ID * 3000}"}}')
    (tmp_path / "nested.json").write_text("[" * 60000)  # nested too deeply for json
    (tmp_path / "not-json.json").write_text(f"{PRIVATE_KEY_ID} is not JSON")
    (tmp_path / "unknown-type.json").write_text(f'{{"type": "api_key", "key": "{REFRESH_TOKEN}"}}')
    (tmp_path / "refused.json").write_text(f'{{"type": "service_account", "x": "{REFRESH_TOKEN}"}}')
    path = tmp_path / name
    with pytest.raises(ConfigError) as caught:
        build(base_url=vertex.base_url, token=TOKEN, vertex_credentials=str(path), **VERTEX)
    assert caught.value.problems == (
        f"CF_AIG_VERTEX_CREDENTIALS: {path} {problem}",
    ) or caught.value.problems[0].startswith(f"CF_AIG_VERTEX_CREDENTIALS: {path} {problem}")
    for secret in SECRETS:
        assert secret not in str(caught.value)


def test_no_application_default_credentials_says_where_google_auth_looked(
    tokens: TokenServer, build: Build
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(base_url="http://127.0.0.1:9/v1/a/g", token=TOKEN, vertex_credentials="ADC", **VERTEX)
    (problem,) = caught.value.problems
    assert problem.startswith(
        "CF_AIG_VERTEX_CREDENTIALS=adc: google-auth found no Application Default"
    )
    assert "GOOGLE_APPLICATION_CREDENTIALS (unset)" in problem
    assert "application_default_credentials.json (missing)" in problem
    assert "metadata server 127.0.0.1:9 (not reachable)" in problem


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"vertex_credentials": "adc"},
            "CF_AIG_VERTEX_CREDENTIALS: Google credentials are for Vertex AI "
            "(CF_AIG_PROVIDER=google-vertex-ai); unset it, or set the provider",
        ),
        (
            {**VERTEX, "vertex_credentials": "adc", "vertex_access_token": "ya29-canary-token"},
            "CF_AIG_VERTEX_CREDENTIALS and CF_AIG_VERTEX_ACCESS_TOKEN: set one: credentials, "
            "whose token cfgenai refreshes, or a token you refresh yourself",
        ),
        (
            {**VERTEX, "vertex_credentials": 42},
            "CF_AIG_VERTEX_CREDENTIALS: must be adc, a credentials JSON file's path",
        ),
    ],
)
def test_credentials_where_they_cannot_be_used_are_a_config_error(
    build: Build, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(base_url="http://127.0.0.1:9/v1/a/g", token=TOKEN, **settings)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_byok_loads_and_sends_no_google_credentials(
    vertex: GatewayEmulator, tokens: TokenServer, build: Build, tmp_path: Path
) -> None:
    client = build(
        base_url=vertex.base_url,
        token=TOKEN,
        mode="byok",
        vertex_credentials=str(tmp_path / "never-read.json"),
        **VERTEX,
    )
    vertex.reply("stored credentials paid")
    client.models.generate_content(model=MODEL, contents="hi")
    assert vertex.requests[0].header("authorization") is None
    assert tokens.grants == []


def test_doctor_names_the_credentials_and_its_ping_gets_a_token(
    vertex: GatewayEmulator,
    tokens: TokenServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cfgenai.cli import main

    for name, value in {**vertex.env(), "CF_AIG_ENV_FILE": ""}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CF_AIG_PROVIDER", "google-vertex-ai")
    monkeypatch.setenv("CF_AIG_VERTEX_PROJECT", "proj")
    monkeypatch.setenv("CF_AIG_VERTEX_LOCATION", "us-central1")
    monkeypatch.setenv("CF_AIG_VERTEX_CREDENTIALS", str(tokens.service_account_file(tmp_path)))
    assert main(["doctor", "--ping"]) == 0
    out = capsys.readouterr().out
    assert f"creds service account ({SERVICE_ACCOUNT}) from {tmp_path}" in " ".join(out.split())
    assert "ping  ok: 200" in out
    assert tokens.grants  # the ping got a token
    for secret in SECRETS:
        assert secret not in out


@pytest.mark.parametrize(
    "copied",
    [lambda kwargs: pickle.loads(pickle.dumps(kwargs)), copy.deepcopy],  # noqa: S301 - our bytes
    ids=["pickle", "deepcopy"],
)
def test_vertex_client_kwargs_copied_by_a_framework_still_get_a_token(
    vertex: GatewayEmulator, tokens: TokenServer, tmp_path: Path, copied: Any
) -> None:
    source = str(tokens.service_account_file(tmp_path))
    settings: dict[str, Any] = {"base_url": vertex.base_url, "token": TOKEN, **VERTEX}
    kwargs = cfgenai.client_kwargs(vertex_credentials=source, **settings)
    with genai.Client(**copied(kwargs)) as client:
        assert client.models.generate_content(model=MODEL, contents="hi").text
    (sent,) = vertex.upstream_requests
    assert sent.header("authorization") == "Bearer issued-access-token-1"
