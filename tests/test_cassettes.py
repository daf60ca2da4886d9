"""Cassettes (``@pytest.mark.gateway_cassette``): recorded in a project that looks like a user's,
through a loopback stand-in for the real gateway, then replayed with that gateway gone; what
a cassette may hold, and how a broken or missing one fails."""

from __future__ import annotations

import base64
import gc
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest

from cfgenai.testing import GatewayEmulator
from cfgenai.testing._cassette import Exchange, Recorder, Scrubber, _parsed, _reply, load, route

from .conftest import ACCOUNT_ID, API_TOKEN, GOOGLE_KEY, TOKEN, sdk_http

SERVICE_TOKEN = "canary-service-token-0b7e4c2a9d1f"  # an unrelated secret of the app's
ACCESS_SECRET = "canary-access-secret-5d2b8e0c7a4f"
GATEWAY_ID = "prod-gateway"
SECRETS = (TOKEN, GOOGLE_KEY, API_TOKEN, SERVICE_TOKEN, ACCESS_SECRET, ACCOUNT_ID, GATEWAY_ID)
# A recording run is a live one: CF_AIG_LIVE=1 lets it reach a real gateway (here the stand-in)
# wherever the guard against real gateways is in.
QUIET = ("-p", "no:cacheprovider")

APP = """
from google.genai import types

from cfgenai import client

MODEL = "gemini-2.5-flash"
LIVE_MODEL = "gemini-live-2.5-flash-preview"


def ask(text, model=MODEL):
    return client.models.generate_content(model=model, contents=text).text


async def ask_async(text):
    return (await client.aio.models.generate_content(model=MODEL, contents=text)).text


def stream(text):
    return [c.text for c in client.models.generate_content_stream(model=MODEL, contents=text)]


def upload(path):
    return client.files.upload(file=path)


async def say(text):
    config = types.LiveConnectConfig(response_modalities=["TEXT"])
    async with client.aio.live.connect(model=LIVE_MODEL, config=config) as session:
        turn = types.Content(role="user", parts=[types.Part(text=text)])
        await session.send_client_content(turns=turn, turn_complete=True)
        return "".join([message.text async for message in session.receive() if message.text])
"""

TESTS = """
import asyncio
import os

import pytest
from google.genai import errors

import my_app

pytestmark = pytest.mark.gateway_cassette


def test_sync(cf_gateway):
    assert my_app.ask("hi") == "Recorded: hi"


def test_a_secret_in_the_prompt(cf_gateway):
    answer = my_app.ask("my token is " + os.environ["MY_SERVICE_TOKEN"])
    assert answer.startswith("Recorded: my token is ")


def test_an_error_as_recorded(cf_gateway):
    with pytest.raises(errors.ClientError, match="models/gemini-nope is not found"):
        my_app.ask("hi", model="gemini-nope")


def test_async(cf_gateway):
    assert asyncio.run(my_app.ask_async("hello")) == "Recorded: hello"


@pytest.mark.parametrize("words", ["one two"])
def test_stream(cf_gateway, words):
    assert my_app.stream(words) == ["Recorded: ", "one two"]


def test_upload(cf_gateway, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("twelve bytes")
    uploaded = my_app.upload(notes)
    assert uploaded.name.startswith("files/") and uploaded.size_bytes == 12


def test_live(cf_gateway):
    assert asyncio.run(my_app.say("hi there")) == "Recorded: hi there"
"""
CASSETTES = {
    "test_sync.yaml",
    "test_a_secret_in_the_prompt.yaml",
    "test_async.yaml",
    "test_an_error_as_recorded.yaml",
    "test_stream-one_two.yaml",
    "test_upload.yaml",
    "test_live.yaml",
}


@contextmanager
def production(pytester: pytest.Pytester) -> Iterator[GatewayEmulator]:
    """The stand-in for the user's real gateway, named by the project's ``.env``; its answers
    start with "Recorded:", which the replaying emulator never says."""
    with GatewayEmulator(
        token=TOKEN,
        google_keys=[GOOGLE_KEY],
        account_id=ACCOUNT_ID,
        gateway_id=GATEWAY_ID,
        upload_urls="gateway",  # its own upload URLs, which must lead back through the proxy
    ) as gateway:
        gateway.reply(
            lambda request: ["Recorded: ", request.json["contents"][-1]["parts"][0]["text"]]
        )
        pytester.path.joinpath(".env").write_text(
            f"CF_AIG_BASE_URL={gateway.base_url}\n"
            f"CF_AIG_TOKEN={TOKEN}\n"
            f"GOOGLE_API_KEY={GOOGLE_KEY}\n"
            "CF_AIG_ACCESS_CLIENT_ID=prod-client.access\n"
            f"CF_AIG_ACCESS_CLIENT_SECRET={ACCESS_SECRET}\n"
            f"CLOUDFLARE_API_TOKEN={API_TOKEN}\n"
        )
        yield gateway


def _record(pytester: pytest.Pytester, mode: str, switch: str) -> pytest.RunResult:
    """A recording run, made live by ``switch``: ``--gateway-live``, ``CF_AIG_LIVE=1`` or none."""
    with pytest.MonkeyPatch.context() as live:
        if switch == "CF_AIG_LIVE=1":
            live.setenv("CF_AIG_LIVE", "1")
        live_flag = [switch] if switch.startswith("--") else []
        return pytester.runpytest_subprocess(f"--gateway-record={mode}", *live_flag, *QUIET)


def _texts(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text(errors="surrogateescape") for p in sorted(folder.glob("*.yaml"))}


def test_recorded_through_the_gateway_then_replayed_without_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(my_app=APP, test_my_app=TESTS)
    monkeypatch.setenv("MY_SERVICE_TOKEN", SERVICE_TOKEN)
    folder = pytester.path / "cassettes" / "test_my_app"
    folder.mkdir(parents=True)
    by_hand = "# written by hand\n" + RECORDED.replace("From the cassette", "'Recorded: hi'")
    folder.joinpath("test_sync.yaml").write_text(by_hand)
    with production(pytester) as gateway:
        recorded = _record(pytester, "once", "--gateway-live")
        received = gateway.requests
    recorded.assert_outcomes(passed=7)
    output = "\n".join(recorded.outlines + recorded.errlines)
    assert not any(secret in output for secret in SECRETS)
    # Through cfgenai's client, with the user's own credentials, to the user's gateway.
    asked = next(r for r in received if r.path.endswith(":generateContent"))
    assert asked.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    assert asked.header("x-goog-api-key") == GOOGLE_KEY
    assert asked.header("cf-access-client-secret") == ACCESS_SECRET
    live = next(r for r in received if r.path.endswith("/google"))
    assert live.params["api_key"] == GOOGLE_KEY and live.header("cf-aig-authorization")

    cassettes = _texts(folder)
    assert set(cassettes) == CASSETTES
    assert cassettes["test_sync.yaml"] == by_hand  # `once` replayed it, and left it alone
    for name, text in cassettes.items():
        assert not any(secret in text for secret in SECRETS), name
        assert "/v1/{account_id}/{gateway_id}/" in text, name
        # Recorded: version 2 (headers as lines); by hand: version 1 (a mapping), still replayed.
        assert ("\nversion: 1\n" if text == by_hand else "\nversion: 2\n") in text, name
    assert "my token is <MY_SERVICE_TOKEN>" in cassettes["test_a_secret_in_the_prompt.yaml"]
    assert (
        "\n      x-goog-upload-url: {gateway_root}/google-ai-studio/upload/"
        in cassettes["test_upload.yaml"]
    )
    assert "query: api_key=<redacted>" in cassettes["test_live.yaml"]
    # JSON as the wire has it: a body indented, a stream's event and a Live frame on one line.
    assert "    - server: '{\"setupComplete\": {}}'\n" in cassettes["test_live.yaml"]
    assert '    chunks:\n    - \'{"candidates": [' in cassettes["test_stream-one_two.yaml"]
    assert '    body: |-\n      {\n        "candidates": [\n' in cassettes["test_async.yaml"]

    # The gateway is gone: every answer comes from the cassettes, which stay as they were.
    pytester.runpytest_subprocess(*QUIET).assert_outcomes(passed=7)
    assert _texts(folder) == cassettes

    with production(pytester) as gateway:
        refused = _record(pytester, "all", "")  # not a live run: nothing reaches the gateway
        assert gateway.requests == [] and _texts(folder) == cassettes
        again = _record(pytester, "all", "CF_AIG_LIVE=1")
    refused.assert_outcomes(passed=0, errors=7)
    message = "recording cassettes/test_my_app/test_sync.yaml reaches your real gateway: run pytest"
    assert message in "\n".join(refused.outlines)
    again.assert_outcomes(passed=7)
    rerecorded = _texts(folder)
    assert set(rerecorded) == CASSETTES and "# written by hand" not in rerecorded["test_sync.yaml"]
    assert rerecorded["test_async.yaml"] != cassettes["test_async.yaml"]  # new ids
    assert not list(folder.glob(".*.tmp"))


RECORDED = """\
version: 1
interactions:
- request:
    method: POST
    path: /v1/{account_id}/{gateway_id}/google-ai-studio/v1/models/gemini-2.5-flash:generateContent
  response:
    status: 200
    headers:
      content-type: application/json; charset=UTF-8
      cf-aig-log-id: 0190d3f6-0000-7000-8000-00000000c0de
    body:
      candidates:
      - content: {parts: [{text: From the cassette}], role: model}
        finishReason: STOP
        index: 0
"""
FAILING_TESTS = """
import asyncio

import pytest
from cfgenai import client

cassette = pytest.mark.gateway_cassette


def ask(model="gemini-2.5-flash"):
    return client.models.generate_content(model=model, contents="hi")


@cassette("cassettes/one_answer.yaml")
def test_the_recorded_answer_with_its_headers(cf_gateway):
    answer = ask()
    assert answer.text == "From the cassette"
    assert answer.sdk_http_response.headers["cf-aig-log-id"] == "0190d3f6-0000-7000-8000-00000000c0de"


def test_the_next_test_gets_the_emulator_again(cf_gateway):
    assert ask().text == "Echo from gemini-2.5-flash: hi"


@cassette("cassettes/one_answer.yaml")
def test_another_route_swallowed_by_the_app(cf_gateway):
    try:
        ask("gemini-2.5-pro")
    except Exception:
        pass


@cassette("cassettes/one_answer.yaml")
def test_one_more_than_recorded(cf_gateway):
    ask()
    with pytest.raises(Exception, match="no recorded answer"):
        ask()


@cassette
def test_never_recorded(cf_gateway):
    ask()


@cassette("cassettes/truncated.yaml")
def test_truncated(cf_gateway):
    ask()


@cassette("cassettes/not_text.yaml")
def test_not_text(cf_gateway):
    ask()


@cassette("cassettes/incomplete.yaml")
def test_incomplete(cf_gateway):
    ask()


@cassette("cassettes/future.yaml")
def test_future_version(cf_gateway):
    ask()


@cassette("cassettes/one_answer.yaml")
def test_a_live_session_not_recorded(cf_gateway):
    async def say():
        async with client.aio.live.connect(model="gemini-live-2.5-flash-preview") as session:
            pass

    with pytest.raises(Exception):
        asyncio.run(say())


@cassette
@pytest.mark.parametrize("x", ["a/b c", "../up"])
def test_named(cf_gateway, x):
    pass
"""


def test_a_cassette_fails_its_test_saying_where_and_what_to_do(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "cassettes"
    folder.mkdir()
    folder.joinpath("one_answer.yaml").write_text(RECORDED)
    folder.joinpath("truncated.yaml").write_text(RECORDED[: RECORDED.index("text: From") + 12])
    not_text = RECORDED.replace("text: From", "text: \xff From").encode("latin-1")
    folder.joinpath("not_text.yaml").write_bytes(not_text)
    incomplete = RECORDED + "- request: {method: POST, path: /v1/a/b/compat/chat/completions}\n"
    folder.joinpath("incomplete.yaml").write_text(incomplete)
    folder.joinpath("future.yaml").write_text(RECORDED.replace("version: 1", "version: 99"))
    before = _texts(folder)
    pytester.makepyfile(test_failures=FAILING_TESTS)
    result = pytester.runpytest_subprocess(*QUIET)
    # The two tests that got a 404 pass their own checks, and fail at teardown.
    result.assert_outcomes(passed=5, errors=10)
    output = "\n".join(result.outlines)
    path = "/v1/{account_id}/{gateway_id}/google-ai-studio/v1/models"
    for expected in (
        f"cassette cassettes/one_answer.yaml has no recorded answer for:\n"
        f"  POST {path}/gemini-2.5-pro:generateContent (none recorded)",
        f"  POST {path}/gemini-2.5-flash:generateContent (all 1 recorded played)",
        "  WS /v1/{account_id}/{gateway_id}/google (none recorded)",
        "cassette cassettes/test_failures/test_never_recorded.yaml does not exist: record it "
        "against your gateway with pytest --gateway-record=once --gateway-live "
        "test_failures.py::test_never_recorded",
        "cassettes/truncated.yaml:13: not valid YAML",
        "cassettes/not_text.yaml:13: not valid YAML (invalid leading UTF-8 octet)",
        "cassettes/incomplete.yaml:16: interaction 2 is incomplete or malformed (KeyError: 'response')",
        "cassettes/future.yaml: cassette format version 99, but this cfgenai reads versions 1 and 2",
        # Parameters make a safe file name.
        "cassette cassettes/test_failures/test_named-a_b_c.yaml does not exist",
        "cassette cassettes/test_failures/test_named-.._up.yaml does not exist",
    ):
        assert expected in output, expected
    assert output.count("ERROR at teardown") == 3 and output.count("ERROR at setup") == 7
    assert "During handling" not in output
    assert _texts(folder) == before  # replaying never writes


def test_every_field_is_scrubbed_binary_bodies_and_queries_too() -> None:
    secret = "canary-binary-secret-9f8e7d6c"
    scrub = Scrubber([(secret, "<MY_KEY>"), (ACCOUNT_ID, "{account_id}")])
    recorder = Recorder(GatewayEmulator(), f"/v1/{ACCOUNT_ID}/gw", "https://gw.example", scrub, 5)
    binary = b"\xff\x00" + secret.encode() + b"\xfe"
    recorder.exchanges += [
        Exchange(
            "POST",
            f"/v1/{ACCOUNT_ID}/gw/google-ai-studio/v1/files",
            f"key={GOOGLE_KEY}&alt=json&note={secret}",
            binary,
            200,
            [
                ("content-type", "application/octet-stream"),
                ("x-note", secret),
                ("set-cookie", "a=b"),
            ],
            answer=binary,
        ),
        Exchange(
            "WS",
            f"/v1/{ACCOUNT_ID}/gw/google",
            "",
            b"",
            101,
            [],
            frames=[("client", f'{{"s": "{secret}"}}'), ("server", binary)],
            close=(1000, secret),
        ),
    ]
    text = recorder.cassette()
    assert secret not in text and GOOGLE_KEY not in text and ACCOUNT_ID not in text
    assert "set-cookie" not in text and "query: key=<redacted>&alt=json&note=<MY_KEY>" in text
    encoded = re.findall(r"base64: (\S+)|server: (\S+)", text)
    decoded = [base64.b64decode(a or b) for a, b in encoded if (a or b) != "true"]
    assert decoded == [b"\xff\x00<MY_KEY>\xfe"] * 3  # request, answer, frame


@pytest.mark.parametrize(
    "text",
    [
        "version: 1\ninteractions: [{request: {method: POST}, response: {status: 200}}]\n",
        "a: [1, 2.5, true, null, ~, '3', x]\nb: 2001-12-14\nc: !!binary aGk=\n1: z\n",
        "x: &a {k: v}\ny: *a\nz:\n  <<: *a\n  q: 2\n",  # an alias, a merge key
        "",
        "just text",
    ],
)
@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])  # with libyaml, and without
def test_a_cassette_loads_as_pyyaml_loads_it(text: str, loader: str) -> None:
    import yaml

    assert _parsed(SimpleNamespace(SafeLoader=getattr(yaml, loader)), text) == yaml.safe_load(text)


def test_an_alias_inside_itself_loads_too() -> None:
    import yaml

    loaded = _parsed(yaml, "a: &x [1, *x]\n")
    assert loaded["a"][0] == 1 and loaded["a"][1] is loaded["a"]


def test_headers_are_lines_as_on_the_wire_or_a_mapping() -> None:
    def replayed(headers: object) -> list[tuple[bytes, bytes]]:
        item = {"request": {"method": "post", "path": "/p"}, "response": {"status": 200}}
        item["response"]["headers"] = headers  # type: ignore[index]
        return _reply(item)[1].headers[:-1]  # its content-length last

    # Version 2: lines, a name twice kept twice, the replaying server's own ones left out.
    lines = "Vary: Origin\nvary: X-Origin\nContent-Length: 9\n\ncf-aig-step:  0 "
    assert replayed(lines) == [(b"vary", b"Origin"), (b"vary", b"X-Origin"), (b"cf-aig-step", b"0")]
    # Version 1 (and by hand): a mapping.
    assert replayed({"Vary": "Origin", "cf-aig-step": 0}) == [
        (b"vary", b"Origin"),
        (b"cf-aig-step", b"0"),
    ]
    with pytest.raises(ValueError, match="a header line is 'name: value', not 'vary Origin'"):
        replayed("vary Origin")


def test_a_loaded_cassette_leaves_no_garbage_behind(tmp_path: Path) -> None:
    """Nothing of a load waits for the cycle collector (a test replaying one would pay for it
    in collections later): all of it is freed when it is done with."""
    path = tmp_path / "one_answer.yaml"
    path.write_text(RECORDED)
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept, to look at
    try:
        assert load(SimpleNamespace(path=path))  # type: ignore[arg-type]
        gc.collect()
        # YAML's own objects only: another thread's garbage (the emulator's) may be there too.
        left = [type(o).__qualname__ for o in gc.garbage if type(o).__module__.startswith("yaml")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/v1/{ACCOUNT_ID}/gw/google", "/v1/{account_id}/{gateway_id}/google"),
        ("/v1/acc/gw", "/v1/{account_id}/{gateway_id}"),
        ("/google-ai-studio/v1/models", "/google-ai-studio/v1/models"),  # a custom domain's
    ],
)
def test_a_route_names_no_account_or_gateway(path: str, expected: str) -> None:
    assert route(path) == expected


def test_an_unreachable_gateway_is_a_502_naming_no_secret(gateway: GatewayEmulator) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    prefix = f"/v1/{ACCOUNT_ID}/{GATEWAY_ID}"
    scrub = Scrubber([(GOOGLE_KEY, "<GOOGLE_API_KEY>"), (ACCOUNT_ID, "{account_id}")])
    recorder = Recorder(gateway, prefix, f"http://127.0.0.1:{port}{prefix}", scrub, 5)
    gateway._divert(recorder)
    try:
        url = f"{gateway.url}{prefix}/google-ai-studio/v1/models/gemini-2.5-flash:generateContent"
        answer = sdk_http().post(url, params={"key": GOOGLE_KEY}, json={})
    finally:
        gateway._divert(None)
    assert answer.status_code == 502 and "cfgenai's recording proxy" in answer.text
    assert GOOGLE_KEY not in answer.text and ACCOUNT_ID not in answer.text
    assert recorder.exchanges == []  # nothing to write
