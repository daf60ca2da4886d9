"""Robustness: random environments, many requests at once, and a canary scan of every output."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cfgenai
from cfgenai import ConfigError, GatewaySettings, request_options
from cfgenai._commands import diagnose
from cfgenai._options import OPTION_HEADERS as OPTION_FIELDS
from cfgenai._settings import SECRET_FIELDS
from cfgenai.cli import main
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, TOKEN, Build

SECRET_VARIABLES = (
    "CF_AIG_TOKEN",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "CF_AIG_VERTEX_ACCESS_TOKEN",
    "CF_AIG_ACCESS_TOKEN",
    "CF_AIG_ACCESS_CLIENT_SECRET",
)
OTHER_VARIABLES = (
    "CF_AIG_ACCOUNT_ID",
    "CF_AIG_GATEWAY_ID",
    "CF_AIG_MODE",
    "CF_AIG_BASE_URL",
    "CF_AIG_API_VERSION",
    "CF_AIG_TIMEOUT",
    "CF_AIG_RETRIES",
    "CF_AIG_MODEL",
    "CF_AIG_PROVIDER",
    "CF_AIG_VERTEX_PROJECT",
    "CF_AIG_VERTEX_LOCATION",
    "CF_AIG_ACCESS_CLIENT_ID",
    "CF_AIG_CACHE_TTL",
    "CF_AIG_METADATA",
    "CF_AIG_MAX_ATTEMPTS",
    "CF_AIG_BACKOFF",
    "CF_AIG_CUSTOM_COST",
    "CF_AIG_ZDR",
    "CLOUDFLARE_ACCOUNT_ID",
)
# Values that are often valid, often not: what a hurried pipeline might set.
_plain = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0" * 32,
            "default",
            "byok",
            "key",
            "auto",
            "v1",
            "30",
            "-1",
            "true",
            "http://127.0.0.1:8787/v1/a/g",
            "https://ai.example.com",
            "{}",
            '{"a":1}',
            "global",
        ]
    ),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
)
# Secrets carry a marker, so a leak is found whatever the rest of the value is.
_secret = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20
).map(lambda tail: "SeCrEt" + tail)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plain=st.dictionaries(st.sampled_from(OTHER_VARIABLES), _plain, max_size=8),
    secret=st.dictionaries(st.sampled_from(SECRET_VARIABLES), _secret, max_size=4),
)
def test_any_environment_gives_settings_or_a_config_error_without_secrets(
    monkeypatch: pytest.MonkeyPatch, plain: dict[str, str], secret: dict[str, str]
) -> None:
    with monkeypatch.context() as patch:
        for name in (*SECRET_VARIABLES, *OTHER_VARIABLES):
            patch.delenv(name, raising=False)
        for name, value in {**plain, **secret}.items():
            patch.setenv(name, value)
        text = _outcome(GatewaySettings)
    for value in secret.values():
        if value.strip():
            assert value.strip() not in text
    assert "SeCrEt" not in text.replace("SeCrEt\n", "")  # no secret, even cut short


def _outcome(build: Any, **arguments: Any) -> str:
    """Everything a user would see from ``build(**arguments)``: the object or the ConfigError
    (nothing else may escape), and every warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            built = build(**arguments)
        except ConfigError as exc:
            text = "".join(traceback.format_exception(exc))
        else:
            text = repr(built) + str(built)
    return text + "".join(str(w.message) for w in caught)


_SECRET_LINES = st.lists(
    st.tuples(st.sampled_from(SECRET_VARIABLES), _secret.map(str.encode)), max_size=3
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    head=st.binary(max_size=60),
    secrets=_SECRET_LINES,
    tail=st.binary(max_size=60),
)
def test_any_dotenv_bytes_give_settings_or_a_config_error_without_secrets(
    head: bytes, secrets: list[tuple[str, bytes]], tail: bytes
) -> None:
    lines = b"".join(name.encode() + b"=" + value + b"\n" for name, value in secrets)
    Path(".env").write_bytes(head + b"\n" + lines + tail)
    text = _outcome(GatewaySettings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diagnosis = diagnose(ping=False)  # doctor reads the same file, and must not crash
    text += repr(diagnosis)
    assert "SeCrEt" not in text


_DEEP = st.integers(min_value=1, max_value=20_000).flatmap(
    lambda depth: st.sampled_from(["[" * depth, '{"a":' * depth, "[" * depth + "]" * depth])
)


@settings(max_examples=60, deadline=None)
@given(json_text=_DEEP, option=st.sampled_from(["metadata", "custom_cost"]))
def test_deep_json_is_a_config_error(json_text: str, option: str) -> None:
    with pytest.raises(ConfigError):
        request_options(**{option: json_text})
    with pytest.raises(ConfigError):
        GatewaySettings(account_id="0" * 32, token=TOKEN, **{option: json_text})


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.binary(max_size=10),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.builds(object),
    _DEEP,
)
_KEYWORDS = st.sampled_from(
    [*GatewaySettings.model_fields, "api_key", "gatway_id", "CF_AIG_TOKEN", "nonsense"]
)


@settings(max_examples=300, deadline=None)
@given(
    arguments=st.dictionaries(_KEYWORDS, _ANY_VALUE, max_size=6),
    secrets=st.dictionaries(st.sampled_from(SECRET_FIELDS), _secret, max_size=2),
    valid_base=st.booleans(),
)
def test_keyword_arguments_of_any_type_give_settings_or_a_config_error_without_secrets(
    arguments: dict[str, Any], secrets: dict[str, str], valid_base: bool
) -> None:
    base = {"account_id": "0" * 32, "token": TOKEN} if valid_base else {}
    text = _outcome(GatewaySettings, **{**base, **arguments, **secrets}) + _outcome(
        request_options, **{k: v for k, v in arguments.items() if k in OPTION_FIELDS}
    )
    for value in secrets.values():
        if value.strip():
            assert value.strip() not in text
    assert TOKEN not in text


def test_500_concurrent_requests_through_one_client(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    client = build()
    before = open_descriptors()

    async def burst() -> list[str]:
        async with client.aio as aio:
            answers = await asyncio.gather(
                *(aio.models.generate_content(model=MODEL, contents=f"q{i}") for i in range(500)),
                return_exceptions=True,
            )
        return [a if isinstance(a, BaseException) else a.text for a in answers]  # type: ignore[misc]

    answers = asyncio.run(burst())
    assert answers == [f"Echo from {MODEL}: q{i}" for i in range(500)]
    assert len(gateway_env.requests) == 500
    deadline = time.monotonic() + 10  # the emulator closes its side once the client has closed
    while open_descriptors() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_descriptors() <= before


def test_canary_scan_of_every_output(
    cf_gateway: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With recognisable secrets configured, nothing anywhere shows one."""
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    caplog.set_level(logging.DEBUG)
    seen = io.StringIO()
    settings_ = GatewaySettings()
    first = cfgenai.client
    seen.write(repr(settings_) + str(settings_) + str(settings_.model_dump()) + repr(first))
    first.models.generate_content(model=MODEL, contents="hi")
    seen.write(repr(cf_gateway) + repr(cf_gateway.requests) + repr(cf_gateway.upstream_requests))
    for argv in (
        ["ask", "hi"],
        ["ask", "hi", "--json"],
        ["doctor"],
        ["doctor", "--json", "--ping"],
        ["env"],
        ["demo"],
    ):
        main(argv)
    for command in ([], ["ask"], ["doctor"], ["env"], ["demo"], ["gateway"]):
        with contextlib.suppress(SystemExit):
            main([*command, "--help"])
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN[::-1])
    cfgenai.reset_client()
    main(["ask", "refused"])
    second = cfgenai.client
    try:
        second.models.generate_content(model=MODEL, contents="refused")
    except Exception as exc:  # the gateway refuses: the traceback is output too
        seen.write("".join(traceback.format_exception(exc)))
    first.close()
    second.close()
    monkeypatch.setenv("CF_AIG_TIMEOUT", "bad")
    try:
        GatewaySettings(token=TOKEN + "\n")
    except ConfigError as exc:
        seen.write("".join(traceback.format_exception(exc)))
    out, err = capsys.readouterr()
    everything = (
        seen.getvalue() + out + err + caplog.text + Path(".").joinpath("nothing").as_posix()
    )
    assert "refused the request" in everything and "Echo from" in everything
    for canary in CANARIES:
        assert canary not in everything


INJECTIONS = ["x/../y", "x?key=1", "x#frag", "x\r\nInjected: 1", "x y", "x%2Fy"]
# Every setting that reaches the URL or a header.
REACHES_THE_WIRE = [
    "account_id",
    "gateway_id",
    "base_url",
    "api_version",
    "model",
    "vertex_project",
    "vertex_location",
    "token",
    "google_api_key",
    "gemini_api_key",
    "vertex_access_token",
    "access_token",
    "access_client_id",
    "access_client_secret",
    "event_id",
    "byok_alias",
]


@pytest.mark.parametrize("field", REACHES_THE_WIRE)
def test_injection_through_any_setting_is_refused_before_sending(
    gateway_env: GatewayEmulator, field: str
) -> None:
    refused = 0
    for value in INJECTIONS:
        if field in (*SECRET_FIELDS, "event_id", "byok_alias") and "\r" not in value:
            continue  # free text in a header: only line breaks can inject there
        with pytest.raises(ConfigError):
            cfgenai.build_client(**{field: value})
        refused += 1
    assert refused >= 1
    assert gateway_env.requests == []


def test_5xx_is_retried_exactly_cf_aig_retries_times_then_raised(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, build: Build
) -> None:
    from google.genai import errors

    monkeypatch.setenv("CF_AIG_RETRIES", "2")
    gateway_env.fail_next(503, times=10)
    with pytest.raises(errors.ServerError):
        build().models.generate_content(model=MODEL, contents="hi")
    assert len(gateway_env.requests) == 3
