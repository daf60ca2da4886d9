"""Secret files rotated under a running app: a new value is sent once its file was seen whole
(the same twice, a check interval apart) and passes the checks made at start; until then, and
for a file that holds nothing usable, the last good secret is sent, and one warning per change
names the file, never the value."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import cfgenai
from cfgenai import _plan, _rotation
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN, Build

OLD, NEW = "old-gateway-token-1", "new-gateway-token-2"


@pytest.fixture(scope="module")
def open_gateway() -> Iterator[GatewayEmulator]:
    """A gateway that takes any token: the tests read which one came."""
    with GatewayEmulator() as gateway:
        yield gateway


@pytest.fixture
def gateway(open_gateway: GatewayEmulator) -> GatewayEmulator:
    open_gateway.reset()
    return open_gateway


class Clock:
    """The time the secret files are looked at by: it moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now

    def tick(self) -> None:
        """Let one check interval pass: the next request looks at the files again."""
        self.now += _rotation.CHECK_EVERY


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(_rotation, "clock", clock)
    return clock


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What cfgenai logs at WARNING (read with ``_messages``)."""
    caplog.set_level(logging.WARNING, logger="cfgenai")
    return caplog


def _messages(logged: pytest.LogCaptureFixture, *values: str) -> list[str]:
    """The messages cfgenai logged, none holding a canary secret or one of ``values``."""
    messages = [r.getMessage() for r in logged.records if r.name == "cfgenai"]
    for message in messages:
        for secret in (*CANARIES, *values):
            assert secret not in message
    return messages


def _rotate(path: Path, value: str) -> None:
    """As Kubernetes does: the new file written beside, then swapped in."""
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(value.encode() + b"\n")
    os.replace(fresh, path)


def _ask(client: Any, gateway: GatewayEmulator) -> str | None:
    """One request; the gateway token it carried."""
    client.models.generate_content(model=MODEL, contents="hi")
    token = gateway.last_request.header("cf-aig-authorization")
    return token.removeprefix("Bearer ") if token else None


@pytest.fixture
def token_file(gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """CF_AIG_TOKEN_FILE, holding OLD, for a client of the gateway."""
    path = tmp_path / "token"
    path.write_text(OLD + "\n")
    monkeypatch.setenv("CF_AIG_BASE_URL", gateway.base_url)
    monkeypatch.setenv("CF_AIG_TOKEN_FILE", str(path))
    monkeypatch.setenv("CF_AIG_ENV_FILE", "")
    return path


@pytest.fixture
def client(token_file: Path, clock: Clock, build: Build) -> Any:
    """A client reading CF_AIG_TOKEN from ``token_file``, on the test's clock."""
    return build()


@pytest.mark.parametrize("which", ["shared client", "build_client"])
@pytest.mark.parametrize("call", ["sync", "async"])
def test_a_rotated_file_is_used_once_it_was_seen_whole_twice(
    gateway: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clock: Clock,
    build: Build,
    which: str,
    call: str,
) -> None:
    token_file, key_file = tmp_path / "token", tmp_path / "key"
    token_file.write_text(OLD + "\n")
    key_file.write_text(GOOGLE_KEY + "\n")
    monkeypatch.setenv("CF_AIG_BASE_URL", gateway.base_url)
    monkeypatch.setenv("CF_AIG_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("GOOGLE_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("CF_AIG_ENV_FILE", "")
    client: Any = cfgenai.client if which == "shared client" else build()

    def rotate() -> None:
        _rotate(token_file, NEW)
        _rotate(key_file, "new-google-key-2")

    if call == "sync":
        client.models.generate_content(model=MODEL, contents="hi")
        rotate()
        for _ in range(3):
            clock.tick()
            client.models.generate_content(model=MODEL, contents="hi")
    else:

        async def ask() -> None:
            async with client.aio as aio:
                await aio.models.generate_content(model=MODEL, contents="hi")
                rotate()
                for _ in range(3):
                    clock.tick()
                    await aio.models.generate_content(model=MODEL, contents="hi")

        asyncio.run(ask())
    sent = [
        (r.header("cf-aig-authorization"), r.header("x-goog-api-key")) for r in gateway.requests
    ]
    assert sent == [
        (f"Bearer {OLD}", GOOGLE_KEY),  # before the rotation
        (f"Bearer {OLD}", GOOGLE_KEY),  # the new files seen once: they may be being written
        (f"Bearer {NEW}", "new-google-key-2"),  # seen the same a second time
        (f"Bearer {NEW}", "new-google-key-2"),
    ]


def test_a_file_rewritten_in_place_is_never_sent_half_written(
    client: Any, gateway: GatewayEmulator, token_file: Path, clock: Clock
) -> None:
    assert _ask(client, gateway) == OLD
    with token_file.open("w") as writing:  # truncated, then written in two parts
        writing.write(NEW[:7])
        writing.flush()
        clock.tick()
        assert _ask(client, gateway) == OLD
        writing.write(NEW[7:] + "\n")
    clock.tick()
    assert _ask(client, gateway) == OLD  # whole now, but seen only once
    clock.tick()
    assert _ask(client, gateway) == NEW


def test_no_request_looks_at_the_file_before_the_check_interval(
    client: Any, gateway: GatewayEmulator, token_file: Path, clock: Clock
) -> None:
    assert _ask(client, gateway) == OLD
    _rotate(token_file, NEW)
    for _ in range(5):
        assert _ask(client, gateway) == OLD
    clock.tick()
    _ask(client, gateway)
    clock.tick()
    assert _ask(client, gateway) == NEW


def test_a_file_secret_is_not_read_per_request(
    client: Any, gateway: GatewayEmulator, token_file: Path
) -> None:
    _ask(client, gateway)
    opened: list[str] = []

    def count(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and str(args[0]) == str(token_file):
            opened.append(event)

    sys.addaudithook(count)
    for _ in range(50):
        client.models.generate_content(model=MODEL, contents="hi")
    assert opened == []


def test_the_openai_helper_sends_the_rotated_secret_too(
    gateway: GatewayEmulator, token_file: Path, clock: Clock
) -> None:
    import cfgenai.openai

    def ask() -> tuple[str | None, str | None]:
        messages: Any = [{"role": "user", "content": "hi"}]
        compat.chat.completions.create(model=cfgenai.openai.compat_model(MODEL), messages=messages)
        last = gateway.last_request
        return last.header("cf-aig-authorization"), last.header("authorization")

    with cfgenai.openai.openai_client() as compat:
        assert ask() == (f"Bearer {OLD}", f"Bearer {OLD}")  # byok: the token is the bearer
        _rotate(token_file, NEW)
        for _ in range(2):
            clock.tick()
            ask()
        assert ask() == (f"Bearer {NEW}", f"Bearer {NEW}")


# Values the settings refuse at start, which a rotated file must not smuggle in.
REFUSED = {
    "non-ASCII": f"{TOKEN}\u00e9",  # every request failed with UnicodeEncodeError
    "Bearer prefix": f"Bearer Bearer {TOKEN}",
    "placeholder": "changeme",
    "template": "<your-token>",
    "ANSI escape": f"\x1b[31m{TOKEN}",
    "blank": "   ",
}


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_a_rotated_value_the_settings_refuse_is_never_sent_and_warned_once(
    client: Any,
    gateway: GatewayEmulator,
    token_file: Path,
    clock: Clock,
    logged: pytest.LogCaptureFixture,
    value: str,
) -> None:
    assert _ask(client, gateway) == OLD
    _rotate(token_file, value)
    for _ in range(4):
        clock.tick()
        assert _ask(client, gateway) == OLD
    (warning,) = _messages(logged, value)
    assert warning.startswith(f"CF_AIG_TOKEN_FILE: {token_file} ")
    assert warning.endswith(
        "; cfgenai keeps sending the last good secret until the file holds a usable one"
    )
    _rotate(token_file, NEW)  # fixed: used as any rotated file
    clock.tick()
    _ask(client, gateway)
    clock.tick()
    assert _ask(client, gateway) == NEW
    assert len(_messages(logged)) == 1


@pytest.mark.parametrize("value", REFUSED.values(), ids=REFUSED.keys())
def test_settings_unpickled_in_another_process_check_a_rotated_file_as_their_own(
    gateway: GatewayEmulator,
    token_file: Path,
    clock: Clock,
    logged: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    value: str,
) -> None:
    pickled = pickle.dumps(cfgenai.GatewaySettings())
    monkeypatch.setattr(_rotation, "_watches", {})  # as a worker process starts: no file watched
    client = cfgenai.build_client(pickle.loads(pickled))  # noqa: S301 - our own bytes
    assert _ask(client, gateway) == OLD
    _rotate(token_file, value)  # "Bearer Bearer ..." was sent as such
    for _ in range(3):
        clock.tick()
        assert _ask(client, gateway) == OLD
    (warning,) = _messages(logged, value)
    assert warning.startswith(f"secret file: {token_file} ")
    _rotate(token_file, NEW)
    for _ in range(2):
        clock.tick()
        _ask(client, gateway)
    assert _ask(client, gateway) == NEW


def test_each_change_to_an_unusable_file_is_warned_once(
    client: Any,
    gateway: GatewayEmulator,
    token_file: Path,
    clock: Clock,
    logged: pytest.LogCaptureFixture,
) -> None:
    _ask(client, gateway)
    for step, change in enumerate(
        [
            lambda: _rotate(token_file, "changeme"),
            lambda: _rotate(token_file, ""),
            token_file.unlink,
            lambda: token_file.mkdir(),
        ]
    ):
        change()
        for _ in range(4):
            clock.tick()
            assert _ask(client, gateway) == OLD
        assert len(_messages(logged)) == step + 1
    assert [m.removeprefix(f"CF_AIG_TOKEN_FILE: {token_file} ") for m in _messages(logged)] == [
        m + "; cfgenai keeps sending the last good secret until the file holds a usable one"
        for m in [
            "is a placeholder, not a credential: set the real value or unset it",
            "is empty; put the secret in it",
            "does not exist; point it at the file holding the secret",
            "is a folder; point it at the file holding the secret",
        ]
    ]


def test_a_secret_in_the_secrets_folder_is_checked_as_its_variable(
    gateway: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    clock: Clock,
    build: Build,
    logged: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "CF_AIG_TOKEN").write_text(OLD)
    (folder / "google_api_key").write_text(GOOGLE_KEY)
    monkeypatch.setenv("CF_AIG_BASE_URL", gateway.base_url)
    monkeypatch.setenv("CF_AIG_SECRETS_DIR", str(folder))
    client = build()
    _rotate(folder / "CF_AIG_TOKEN", f"Bearer {NEW}")  # a token must not carry its scheme
    _rotate(folder / "google_api_key", f"Bearer {NEW}")  # but a key may look like anything
    for _ in range(3):
        clock.tick()
        client.models.generate_content(model=MODEL, contents="hi")
    last = gateway.last_request
    assert last.header("cf-aig-authorization") == f"Bearer {OLD}"
    assert last.header("x-goog-api-key") == f"Bearer {NEW}"
    (warning,) = _messages(logged)
    assert warning.startswith(
        f"CF_AIG_SECRETS_DIR: {folder / 'CF_AIG_TOKEN'} starts with 'Bearer ': set the token "
        "alone; cfgenai adds Bearer"
    )


def test_a_vertex_access_token_file_rotated_to_a_placeholder_keeps_the_last_good_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "vertex-token"
    path.write_text("good-vertex-token-1")
    monkeypatch.setenv("CF_AIG_VERTEX_ACCESS_TOKEN_FILE", str(path))
    settings = cfgenai.GatewaySettings(
        base_url="http://127.0.0.1:9/v1/a/g",
        token=TOKEN,
        provider="google-vertex-ai",
        vertex_project="proj",
        vertex_location="us-central1",
    )
    secret = _plan.plan(settings).genai.key
    assert secret is not None
    _rotate(path, "<vertex-access-token>")
    for _ in range(3):
        clock.tick()
        assert secret.value() == "good-vertex-token-1"


def test_a_client_built_while_a_file_is_rewritten_sends_the_last_good_secret(
    client: Any, gateway: GatewayEmulator, token_file: Path, clock: Clock, build: Build
) -> None:
    assert _ask(client, gateway) == OLD
    token_file.write_text(NEW[:7])  # caught half-written by the settings of a new client
    later = build()
    assert _ask(later, gateway) == OLD
    token_file.write_text(NEW + "\n")
    for _ in range(2):
        clock.tick()
        _ask(later, gateway)
    assert _ask(later, gateway) == _ask(client, gateway) == NEW


def test_concurrent_requests_send_only_whole_valid_tokens_while_the_file_is_rewritten(
    client: Any, token_file: Path, gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: a writer rewrites the file in place, a few bytes at a time, while
    requests run. On real time: each part stays a sixth of the check interval, each whole
    value three intervals, so half-written files are seen often, the same one twice never."""
    monkeypatch.setattr(_rotation, "clock", time.monotonic)
    monkeypatch.setattr(_rotation, "CHECK_EVERY", 0.2)
    values = [OLD, *(f"rotated-gateway-token-{n}-{'x' * n}" for n in range(2, 5))]
    done = threading.Event()

    def write() -> None:
        try:
            for value in values[1:]:
                with token_file.open("r+b", buffering=0) as writing:  # in place
                    writing.truncate(0)
                    data = value.encode() + b"\n"
                    for start in range(0, len(data), 3):
                        writing.write(data[start : start + 3])
                        time.sleep(0.03)
                time.sleep(0.6)
        finally:
            done.set()

    def ask() -> None:
        deadline = time.monotonic() + 15
        for _ in range(500):  # at most 2,000 requests in all, for at most 15 s
            if done.is_set() or time.monotonic() > deadline:
                break
            client.models.generate_content(model=MODEL, contents="hi")

    writer = threading.Thread(target=write)
    writer.start()
    with ThreadPoolExecutor(4) as pool:
        for asked in [pool.submit(ask) for _ in range(4)]:
            asked.result()
    writer.join()
    sent = [r.header("cf-aig-authorization") for r in gateway.requests]
    assert set(sent) <= {f"Bearer {v}" for v in values}
    assert len(set(sent)) >= 2  # rotated while the requests ran
    deadline = time.monotonic() + 5
    while _ask(client, gateway) != values[-1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.last_request.header("cf-aig-authorization") == f"Bearer {values[-1]}"


def test_a_padded_token_file_is_sent_as_the_settings_keep_it(
    token_file: Path, clock: Clock, build: Build, gateway: GatewayEmulator
) -> None:
    token_file.write_text(f"  {OLD}  \n")  # a secret store's stray spaces
    client = build()
    assert _ask(client, gateway) == OLD
    clock.tick()
    assert _ask(client, gateway) == OLD


def test_a_file_fixed_after_the_settings_refused_it_sends_the_fixed_value(
    token_file: Path, clock: Clock, build: Build, gateway: GatewayEmulator
) -> None:
    token_file.write_text("tok\u00e9n-with-an-accent\n")  # not ASCII: refused
    with pytest.raises(cfgenai.ConfigError, match="CF_AIG_TOKEN"):
        build()
    token_file.write_text(NEW + "\n")
    assert _ask(build(), gateway) == NEW
