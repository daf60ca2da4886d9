"""Logs and feedback over Cloudflare's REST API, against the emulator's."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import cfgenai
import cfgenai.logs
from cfgenai import ConfigError, GatewaySettings, gateway_info
from cfgenai.cli import main
from cfgenai.logs import CloudflareAPIError
from cfgenai.testing import GatewayEmulator

from .calls import CALLS
from .conftest import API_TOKEN, CANARIES, MODEL, TOKEN, UUID7, Build


def _api_requests(gateway: GatewayEmulator) -> list:  # type: ignore[type-arg]
    return [r for r in gateway.requests if r.path.startswith("/client/v4/")]


@pytest.mark.parametrize("call", list(CALLS))
def test_get_log_has_cost_and_tokens_of_the_answer(
    gateway_env: GatewayEmulator, build: Build, call: str
) -> None:
    response, _ = CALLS[call](build(), metadata={"team": "search", "user": 42})
    log_id = gateway_info(response).log_id
    assert log_id is not None
    entry = cfgenai.logs.get_log(log_id)
    assert entry.id == log_id
    usage = gateway_env.log_entry(log_id)
    assert (entry.tokens_in, entry.tokens_out) == (usage["tokens_in"], usage["tokens_out"])
    assert entry.tokens_in and entry.tokens_out  # from the answer's usageMetadata
    assert entry.cost == pytest.approx(entry.tokens_in * 0.3e-6 + entry.tokens_out * 2.5e-6)
    assert (entry.model, entry.provider, entry.status_code, entry.cached) == (
        MODEL,
        "google-ai-studio",
        200,
        False,
    )
    assert entry.metadata == {"team": "search", "user": 42}
    assert isinstance(entry.created_at, datetime)
    (api,) = _api_requests(gateway_env)
    assert api.method == "GET"
    assert api.header("authorization") == f"Bearer {API_TOKEN}"
    assert api.header("cf-aig-authorization") is None
    assert TOKEN not in json.dumps(dict(api.headers))  # the gateway token never goes there


def test_a_cached_answer_costs_nothing_and_custom_costs_count(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    client = build()
    first, _ = CALLS["sync"](
        client, cache_ttl=60, custom_cost={"per_token_in": 1, "per_token_out": 2}
    )
    again, _ = CALLS["sync"](client, cache_ttl=60)
    paid = cfgenai.logs.get_log(str(gateway_info(first).log_id))
    assert paid.cost == (paid.tokens_in or 0) * 1 + (paid.tokens_out or 0) * 2
    cached = cfgenai.logs.get_log(str(gateway_info(again).log_id))
    assert (cached.cached, cached.cost) == (True, 0.0)


def test_feedback_is_stored_and_read_back(gateway_env: GatewayEmulator, build: Build) -> None:
    response, _ = CALLS["sync"](build())
    log_id = str(gateway_info(response).log_id)
    cfgenai.logs.feedback(log_id, feedback=1, score=80, metadata={"reviewer": "ana"})
    patch = _api_requests(gateway_env)[-1]
    assert patch.method == "PATCH"
    assert patch.json == {"feedback": 1, "score": 80, "metadata": {"reviewer": "ana"}}
    stored = gateway_env.log_entry(log_id)
    assert (stored["feedback"], stored["score"]) == (1, 80)
    entry = cfgenai.logs.get_log(log_id)
    assert (entry.feedback, entry.score, entry.metadata) == (1, 80.0, {"reviewer": "ana"})


def test_async_twins(gateway_env: GatewayEmulator, build: Build) -> None:
    response, _ = CALLS["async"](build())
    log_id = str(gateway_info(response).log_id)

    async def run() -> cfgenai.logs.LogEntry:
        await cfgenai.logs.afeedback(log_id, feedback=-1)
        return await cfgenai.logs.aget_log(log_id)

    entry = asyncio.run(run())
    assert entry.feedback == -1 and entry.score is None
    assert [r.method for r in _api_requests(gateway_env)] == ["PATCH", "GET"]


def test_without_an_api_token_nothing_is_sent(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    with pytest.raises(ConfigError) as caught:
        cfgenai.logs.get_log("0190a8f2-0000-7000-8000-000000000000")
    (problem,) = caught.value.problems
    assert problem.startswith("CLOUDFLARE_API_TOKEN: not set; the logs and feedback API needs")
    assert "CF_AIG_TOKEN" in problem  # it says the gateway token is not the one
    assert _api_requests(gateway_env) == []


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"feedback": 0}, "feedback: must be 1 (good) or -1 (bad)"),
        ({"feedback": 2}, "feedback: must be 1 (good) or -1 (bad)"),
        ({"feedback": True}, "feedback: must be 1 (good) or -1 (bad)"),
        ({"score": -1}, "score: must be a number from 0 to 100"),
        ({"score": 100.5}, "score: must be a number from 0 to 100"),
        ({"score": "90"}, "score: must be a number from 0 to 100"),
        ({"metadata": {str(i): i for i in range(6)}}, "metadata: has 6 entries"),
        ({}, "feedback(): give feedback, score or metadata"),
    ],
)
def test_bad_feedback_is_refused_before_sending(
    gateway_env: GatewayEmulator, arguments: dict[str, object], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        cfgenai.logs.feedback("0190a8f2-0000-7000-8000-000000000000", **arguments)  # type: ignore[arg-type]
    assert _api_requests(gateway_env) == []


@pytest.mark.parametrize("log_id", ["", "../../tokens", "a/b", "id?x=1", "x" * 200])
def test_a_log_id_that_would_change_the_path_is_refused(
    gateway_env: GatewayEmulator, log_id: str
) -> None:
    with pytest.raises(ConfigError, match="log_id: must be a log id"):
        cfgenai.logs.get_log(log_id)
    assert _api_requests(gateway_env) == []


def test_a_wrong_api_token_names_the_variable_and_never_shows_it(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)  # the gateway token: not an API token
    with pytest.raises(CloudflareAPIError) as caught:
        cfgenai.logs.get_log("0190a8f2-0000-7000-8000-000000000000")
    error = caught.value
    assert (error.status, error.codes) == (401, (10000,))
    assert "check CLOUDFLARE_API_TOKEN" in str(error)
    assert not any(c in str(error) for c in CANARIES)


def test_an_unknown_log_id_says_what_to_check(gateway_env: GatewayEmulator) -> None:
    with pytest.raises(CloudflareAPIError) as caught:
        cfgenai.logs.feedback("0190a8f2-0000-7000-8000-000000000000", score=5)
    assert caught.value.status == 404
    assert "no log entry 0190a8f2-0000-7000-8000-000000000000 in gateway gw" in str(caught.value)


@contextlib.contextmanager
def _api(
    status: int, body: Callable[[str], bytes] | bytes, headers: dict[str, str] | None = None
) -> Iterator[tuple[GatewaySettings, list[str]]]:
    """A stand-in for Cloudflare's API answering every GET with ``status`` and ``body`` (or
    ``body(authorization header)``); yields settings pointing at it, and the paths it got."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            data = body(self.headers.get("authorization", "")) if callable(body) else body
            self.send_response(status)
            for name, value in {**(headers or {}), "content-length": str(len(data))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        yield (
            GatewaySettings(
                base_url="http://127.0.0.1:1/v1/acc/gw",
                token=TOKEN,
                api_token=API_TOKEN,
                api_base_url=f"http://127.0.0.1:{server.server_port}/client/v4",
            ),
            seen,
        )
    finally:  # a failing test stops it too
        server.shutdown()
        server.server_close()


def _echoing(authorization: str) -> bytes:
    """200 with success:false, echoing the token it was sent."""
    error = {"code": 7003, "message": f"no: {authorization}"}
    return json.dumps({"success": False, "errors": [error], "result": None}).encode()


def test_an_envelope_with_success_false_is_raised() -> None:
    json_type = {"content-type": "application/json"}
    with (
        _api(200, _echoing, json_type) as (settings, _),
        pytest.raises(CloudflareAPIError) as caught,
    ):
        cfgenai.logs.get_log("some-log", settings=settings)
    assert caught.value.codes == (7003,)
    assert "no: Bearer <sha256:" in str(caught.value)
    assert API_TOKEN not in str(caught.value)


def test_an_envelope_with_odd_errors_is_raised() -> None:
    odd = b'{"success": false, "errors": 5}'  # errors that are not a list
    with _api(500, odd) as (settings, _), pytest.raises(CloudflareAPIError) as caught:
        cfgenai.logs.get_log("some-log", settings=settings)
    assert (caught.value.status, caught.value.codes) == (500, ())
    assert "retry later" in caught.value.hint


def test_a_redirect_is_raised_never_followed() -> None:
    elsewhere = {"location": "http://127.0.0.1:9/client/v4/elsewhere"}
    with _api(302, b"", elsewhere) as (settings, seen), pytest.raises(CloudflareAPIError) as caught:
        cfgenai.logs.get_log("some-log", settings=settings)
    assert caught.value.status == 302
    assert "redirected, which cfgenai does not follow" in caught.value.hint
    assert seen == ["/client/v4/accounts/acc/ai-gateway/gateways/gw/logs/some-log"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:6787/client/v4", True),
        ("http://localhost/client/v4/", True),
        ("https://api.example.com/client/v4", True),
        ("http://api.example.com/client/v4", False),
        ("https://user:pw@api.example.com", False),
        ("api.cloudflare.com", False),
    ],
)
def test_the_api_base_url_is_https_unless_loopback(url: str, ok: bool) -> None:
    def settings() -> GatewaySettings:
        return GatewaySettings(base_url="http://127.0.0.1:1/v1/a/g", token=TOKEN, api_base_url=url)

    if ok:
        assert settings().api_base_url == url.rstrip("/")
    else:
        with pytest.raises(ConfigError, match="CLOUDFLARE_API_BASE_URL: must"):
            settings()


def test_cli_log_and_feedback(
    gateway_env: GatewayEmulator, build: Build, capsys: pytest.CaptureFixture[str]
) -> None:
    response, _ = CALLS["sync"](build())
    log_id = str(gateway_info(response).log_id)
    assert main(["feedback", log_id, "--good", "--score", "90"]) == 0
    assert capsys.readouterr().out == f"feedback recorded for {log_id}: good, score 90\n"
    assert main(["log", log_id, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["id"], printed["feedback"], printed["score"], printed["status_code"]) == (
        log_id,
        1,
        90.0,
        200,
    )
    assert main(["log", log_id]) == 0
    out = capsys.readouterr().out
    assert f"id          {log_id}\n" in out and "tokens_in   " in out and "cost        " in out
    assert main(["feedback", log_id]) == 2
    assert "give --good, --bad or --score" in capsys.readouterr().err


def test_cli_log_errors_have_their_exit_codes(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["log", "0190a8f2-0000-7000-8000-000000000000", "--json"]) == 4
    printed = json.loads(capsys.readouterr().out)
    assert printed["ok"] is False and "no log entry" in printed["error"]
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    assert main(["feedback", "x", "--bad"]) == 3
    err = capsys.readouterr().err
    assert "CLOUDFLARE_API_TOKEN: not set" in err
    assert not any(c in err for c in CANARIES)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "t")
    monkeypatch.setenv("CLOUDFLARE_API_BASE_URL", "http://127.0.0.1:9/client/v4")  # nobody there
    assert main(["log", "x"]) == 6
    assert capsys.readouterr().err.startswith(
        "cfgenai: could not reach Cloudflare's API at 127.0.0.1:9: connecting failed: "
    )


def test_the_log_id_is_a_uuid7(gateway_env: GatewayEmulator, build: Build) -> None:
    ids = [gateway_info(CALLS["sync"](build())[0]).log_id for _ in range(3)]
    assert all(re.fullmatch(UUID7, str(i)) for i in ids)
    stamps = [str(i)[:8] + str(i)[9:13] for i in ids]  # 48 bits of Unix milliseconds
    assert stamps == sorted(stamps) and len(set(ids)) == 3
