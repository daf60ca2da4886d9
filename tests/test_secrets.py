"""Canary secrets never reach a repr, a message, a log line or the CLI's output."""

from __future__ import annotations

import logging
import traceback

import pytest
from google.genai import errors

from cfgenai import ConfigError, GatewaySettings
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN, Build
from .test_wire import CALLS


def _assert_clean(text: str) -> None:
    for canary in CANARIES:
        assert canary not in text


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_requests_log_no_secret_at_debug(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    mode: str,
    build: Build,
) -> None:
    monkeypatch.setenv("CF_AIG_MODE", mode)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    caplog.set_level(logging.DEBUG)
    client = build()
    for run, _ in CALLS.values():
        run(client)
    gateway_env.fail_next(503)
    with pytest.raises(errors.ServerError) as caught:
        build(retries=0).models.generate_content(model=MODEL, contents="x")
    assert len(caplog.records) > 0
    _assert_clean(caplog.text)
    _assert_clean("".join(traceback.format_exception(caught.value)))
    _assert_clean(repr(client) + repr(gateway_env) + repr(gateway_env.requests))


def test_gateway_refusal_names_no_secret(gateway_env: GatewayEmulator, build: Build) -> None:
    with pytest.raises(errors.APIError) as caught:
        build(token=TOKEN[::-1], google_api_key=GOOGLE_KEY, retries=0).models.generate_content(
            model=MODEL, contents="x"
        )
    _assert_clean(str(caught.value) + repr(caught.value))


@pytest.mark.parametrize(
    "bad",
    [
        {"token": TOKEN + "\n", "account_id": TOKEN},
        {"google_api_key": GOOGLE_KEY + "\r", "gateway_id": GOOGLE_KEY.upper()},
        {"base_url": f"https://{TOKEN}:{GOOGLE_KEY}@example.com/?k={TOKEN}"},
        {"mode": TOKEN, "api_version": GOOGLE_KEY, "timeout": TOKEN, "retries": GOOGLE_KEY},
    ],
)
def test_configuration_errors_name_no_secret(bad: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        GatewaySettings(**bad)
    _assert_clean("".join(traceback.format_exception(caught.value)))
    _assert_clean(repr(caught.value))


def test_settings_warning_names_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("GEMINI_API_KEY", TOKEN)
    with pytest.warns(UserWarning, match="both set and differ") as caught:
        settings = GatewaySettings(base_url="https://ai.example.com")
    _assert_clean(str(caught[0].message) + repr(settings) + str(settings))


# -- issue 23: a secret inside another value, and HTTP:// in capitals ---------------------------


def test_doctor_and_errors_mask_a_secret_inside_other_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfgenai.cli import main

    monkeypatch.setenv("CF_AIG_BASE_URL", f"http://127.0.0.1:9/v1/{TOKEN}/gw")
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    monkeypatch.setenv("CF_AIG_METADATA", f'{{"who":"{TOKEN}","team":"x;{GOOGLE_KEY},y"}}')
    monkeypatch.setenv("CF_AIG_EVENT_ID", f"'{TOKEN}'")
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("CF_AIG_BYOK_ALIAS", f"alias-{GOOGLE_KEY}")
    for argv in (["doctor"], ["doctor", "--all"], ["doctor", "--json"]):
        main(argv)
        out = capsys.readouterr().out
        assert "<sha256:" in out
        for canary in CANARIES:
            assert canary not in out
    monkeypatch.setenv("CF_AIG_METADATA", f'{{"cf.{TOKEN}": 1}}')  # a key the rules refuse
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert "keys starting with 'cf.' are reserved" in str(caught.value)
    for canary in CANARIES:
        assert canary not in str(caught.value)


def test_plain_http_is_warned_about_in_capitals_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfgenai.cli import main

    monkeypatch.setenv("CF_AIG_BASE_URL", "HTTP://127.0.0.1:9/v1/acc/gw")
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    main(["doctor"])
    assert "CF_AIG_BASE_URL uses plain http" in capsys.readouterr().out
