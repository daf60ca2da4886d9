"""What error reporters capture holds no secret: the repr of every object of cfgenai's that
holds a credential shows none, and no local variable of cfgenai's keeps a copy of the
environment while it calls anything else (Sentry and others record each frame's locals, walking
dicts and lists, and the repr of anything else)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import cfgenai
from cfgenai import _plan, _sources, _transport
from cfgenai._credentials import AccessToken
from cfgenai._rotation import Secret

from .conftest import CANARIES, GOOGLE_KEY, TOKEN, VERTEX_TOKEN, Build

ACCESS_SECRET = "canary-access-secret-5d2b8e1f0a7c"
ACCESS_TOKEN = "canary-access-token-8e3f1a6c0b2d"
UNRELATED = "canary-unrelated-db-password-3a7e"  # an app's own secret, in the environment
SECRETS = (*CANARIES, ACCESS_SECRET, ACCESS_TOKEN)
VERTEX = {"provider": "google-vertex-ai", "vertex_project": "p", "vertex_location": "us-central1"}
MODES: dict[str, dict[str, Any]] = {
    "key": {"google_api_key": GOOGLE_KEY},
    "byok": {},
    "vertex-key": {**VERTEX, "vertex_access_token": VERTEX_TOKEN},
    "vertex-byok": {**VERTEX, "mode": "byok"},
}
_CFGENAI = str(Path(cfgenai.__file__).parent)


def _settings(mode: str) -> dict[str, Any]:
    return {
        "base_url": "http://127.0.0.1:9/v1/acc/gw",
        "token": TOKEN,
        "access_token": ACCESS_TOKEN,
        "access_client_id": "client-id.access",
        "access_client_secret": ACCESS_SECRET,
        **MODES[mode],
    }


def _captured(value: Any, depth: int = 0) -> str:
    """``value`` as an error reporter records it: mappings and sequences walked, the rest by
    repr."""
    if depth > 6:
        return "..."
    if isinstance(value, Mapping):
        pairs = (f"{_captured(k, depth + 1)}:{_captured(v, depth + 1)}" for k, v in value.items())
        return "{" + ",".join(pairs) + "}"
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ",".join(_captured(v, depth + 1) for v in value) + "]"
    try:
        return repr(value)
    except Exception as exc:  # a half-built object
        return f"<repr failed: {type(exc).__name__}>"


def _held(mode: str, build: Build) -> Iterator[tuple[str, Any]]:
    """Every object of cfgenai's that holds a credential, for a client in ``mode``."""
    settings = cfgenai.GatewaySettings(**_settings(mode))
    plan = _plan.plan(settings)
    yield "settings", settings
    yield "plan", plan
    for route in (plan.genai, plan.live, plan.openai):
        yield "route", route
        if isinstance(route, _plan.Route):
            yield "credentials", route.credentials
            yield "key", route.key
    kwargs = cfgenai.client_kwargs(settings)
    options = kwargs["http_options"]
    yield "http_options", options
    yield "credentials", kwargs.get("credentials")
    for args in (options.client_args, options.async_client_args):
        yield "client args", args
        for hooks in args.get("event_hooks", {}).values():
            yield from (("hook", hook) for hook in hooks)
        yield from (("middleware", m) for m in args.get("middlewares", ()))
    yield "client", build(settings)
    yield "secret", Secret(TOKEN)
    yield "access token", AccessToken(Secret(VERTEX_TOKEN))


@pytest.mark.parametrize("mode", list(MODES))
def test_objects_holding_credentials_show_none_in_their_repr(build: Build, mode: str) -> None:
    seen = set()
    for what, held in _held(mode, build):
        seen.add(type(held))
        text = _captured(held)
        for secret in SECRETS:
            assert secret not in text, what
    assert {_plan.Route, _plan.Plan, _transport.Outgoing, _transport.AiohttpMiddleware} <= seen


def test_a_reading_of_the_environment_shows_no_secret_in_its_repr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text(TOKEN)
    monkeypatch.setenv("CF_AIG_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("CF_AIG_ACCESS_CLIENT_SECRET", ACCESS_SECRET)
    reading = _sources.read(cfgenai.GatewaySettings, None)
    found = [reading.find([name]) for name in ("CF_AIG_TOKEN", "GOOGLE_API_KEY")]
    assert [hit.value if hit else None for hit in found] == [TOKEN, GOOGLE_KEY]
    for secret in (TOKEN, GOOGLE_KEY, ACCESS_SECRET):
        assert secret not in _captured(reading) and secret not in _captured(found)


@pytest.mark.parametrize("mode", list(MODES))
def test_no_local_of_cfgenais_holds_the_environment_while_it_calls_on(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    for name, value in _settings(mode).items():
        monkeypatch.setenv(f"CF_AIG_{name.upper()}", str(value))
    for name in ("google_api_key", "vertex_access_token"):
        if name in MODES[mode]:  # their variables have no CF_AIG_ prefix
            monkeypatch.delenv(f"CF_AIG_{name.upper()}")
            monkeypatch.setenv(name.upper(), MODES[mode][name])
    monkeypatch.setenv("DATABASE_PASSWORD", UNRELATED)
    Path(".env").write_text(f"APP_DB_PASSWORD={UNRELATED}\n")  # the app's, in its .env too
    found: set[str] = set()

    def look(frame: FrameType, event: str, arg: Any) -> None:
        # Whenever a function is called, every cfgenai frame below it is what a reporter
        # would record, were it to raise.
        if event != "call":
            return None
        caller = frame.f_back
        while caller is not None:
            if caller.f_code.co_filename.startswith(_CFGENAI):
                for name, value in caller.f_locals.items():
                    if UNRELATED in _captured(value):
                        found.add(f"{caller.f_code.co_qualname}: {name}")
            caller = caller.f_back
        return None

    sys.settrace(look)
    try:
        cfgenai.client.models  # noqa: B018 - builds the shared client
    finally:
        sys.settrace(None)
    assert os.environ["DATABASE_PASSWORD"] == UNRELATED
    assert found == set()
