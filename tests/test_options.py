"""Gateway options (cf-aig-* headers): client-wide from the environment, per request, validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.genai import types

import cfgenai
from cfgenai import ConfigError, GatewayError, GatewaySettings, request_options
from cfgenai._options import OPTION_HEADERS
from cfgenai.testing import GatewayEmulator

from .conftest import ACCOUNT_ID, MODEL, TOKEN, Build

DOCUMENTED = {
    "cf-aig-authorization",
    "cf-aig-cache-ttl",
    "cf-aig-skip-cache",
    "cf-aig-cache-key",
    "cf-aig-metadata",
    "cf-aig-collect-log",
    "cf-aig-collect-log-payload",
    "cf-aig-event-id",
    "cf-aig-request-timeout",
    "cf-aig-max-attempts",
    "cf-aig-retry-delay",
    "cf-aig-backoff",
    "cf-aig-custom-cost",
    "cf-aig-byok-alias",
    "cf-aig-zdr",
}

# option, environment variable, its value, header sent, per-request value, header sent
OPTIONS = [
    ("cache_ttl", "CF_AIG_CACHE_TTL", "300", "300", 60, "60"),
    ("skip_cache", "CF_AIG_SKIP_CACHE", "true", "true", False, "false"),
    (
        "metadata",
        "CF_AIG_METADATA",
        '{"team": "search"}',
        '{"team":"search"}',
        {"user": 42, "beta": True},
        '{"user":42,"beta":true}',
    ),
    ("collect_log", "CF_AIG_COLLECT_LOG", "false", "false", True, "true"),
    ("collect_log_payload", "CF_AIG_COLLECT_LOG_PAYLOAD", "FALSE", "false", True, "true"),
    ("event_id", "CF_AIG_EVENT_ID", "build-42", "build-42", "request-7", "request-7"),
    ("request_timeout_ms", "CF_AIG_REQUEST_TIMEOUT_MS", "5000", "5000", 1500, "1500"),
    ("max_attempts", "CF_AIG_MAX_ATTEMPTS", "3", "3", 1, "1"),
    ("retry_delay_ms", "CF_AIG_RETRY_DELAY_MS", "100", "100", 0, "0"),
    ("backoff", "CF_AIG_BACKOFF", "Exponential", "exponential", "linear", "linear"),
    (
        "custom_cost",
        "CF_AIG_CUSTOM_COST",
        '{"per_token_in": 0.000001}',
        '{"per_token_in":1e-06}',
        {"per_token_out": 2},
        '{"per_token_out":2}',
    ),
    ("byok_alias", "CF_AIG_BYOK_ALIAS", "team", "team", "default", "default"),
    ("zdr", "CF_AIG_ZDR", "1", "true", False, "false"),
]


def _ask(client: object, **options: object) -> None:
    config = (
        types.GenerateContentConfig(http_options=request_options(**options)) if options else None
    )
    client.models.generate_content(model=MODEL, contents="hi", config=config)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "variable", "value", "header", "override", "override_header"), OPTIONS
)
def test_option_from_environment_and_overridden_for_one_request(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    variable: str,
    value: str,
    header: str,
    override: object,
    override_header: str,
) -> None:
    name = OPTION_HEADERS[field]
    monkeypatch.setenv(variable, value)
    client = cfgenai.build_client()
    _ask(client)
    _ask(client, **{field: override})
    _ask(client)
    sent = [r.header(name) for r in gateway_env.requests]
    assert sent == [header, override_header, header]


def test_cache_key_is_per_request_only(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = cfgenai.build_client()
    _ask(client, cache_key="answers-v1")
    _ask(client)
    assert [r.header("cf-aig-cache-key") for r in gateway_env.requests] == ["answers-v1", None]
    monkeypatch.setenv("CF_AIG_CACHE_KEY", "one-key-for-everything")
    with pytest.raises(ConfigError) as caught:
        cfgenai.build_client()
    assert caught.value.problems == (
        "CF_AIG_CACHE_KEY: a client-wide cache key would give every request the same cached "
        "answer; unset it and pass cfgenai.request_options(cache_key=...) per request",
    )


def test_only_documented_headers_are_sent(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _, variable, value, *_ in OPTIONS:
        monkeypatch.setenv(variable, value)
    _ask(cfgenai.build_client(), cache_key="k")
    sent = {name for name in gateway_env.last_request.headers if name.startswith("cf-")}
    assert sent == DOCUMENTED
    assert not {"cf-cache-ttl", "cf-skip-cache", "cf-aig-request-timeout-ms"} & set(
        gateway_env.last_request.headers
    )


def test_no_option_no_header(gateway_env: GatewayEmulator) -> None:
    _ask(cfgenai.build_client())
    assert {n for n in gateway_env.last_request.headers if n.startswith("cf-")} == {
        "cf-aig-authorization"
    }


BAD_OPTIONS = [
    (
        "cache_ttl",
        59,
        "cache_ttl: must be 0 (do not cache) or whole seconds from 60 to 2592000 (1 month)",
    ),
    (
        "cache_ttl",
        2592001,
        "cache_ttl: must be 0 (do not cache) or whole seconds from 60 to 2592000 (1 month)",
    ),
    (
        "cache_ttl",
        60.5,
        "cache_ttl: must be 0 (do not cache) or whole seconds from 60 to 2592000 (1 month)",
    ),
    ("skip_cache", "yes please", "skip_cache: must be true or false"),
    (
        "cache_key",
        "a\r\nb",
        "cache_key: must be non-empty printable ASCII: no line breaks or control characters (sent as a header)",
    ),
    (
        "cache_key",
        "",
        "cache_key: must be non-empty printable ASCII: no line breaks or control characters (sent as a header)",
    ),
    (
        "metadata",
        {f"k{i}": i for i in range(6)},
        "metadata: has 6 entries; the gateway keeps at most 5",
    ),
    (
        "metadata",
        {"cf.user": "x"},
        "metadata: key 'cf.user': keys starting with 'cf.' are reserved by Cloudflare",
    ),
    (
        "metadata",
        {"nested": {"a": 1}},
        "metadata: key 'nested': values must be strings, numbers or booleans",
    ),
    (
        "metadata",
        {"none": None},
        "metadata: key 'none': values must be strings, numbers or booleans",
    ),
    ("metadata", ["a"], 'metadata: must be a JSON object such as {"team":"search","user":42}'),
    ("collect_log", "sometimes", "collect_log: must be true or false"),
    ("collect_log_payload", 2, "collect_log_payload: must be true or false"),
    (
        "event_id",
        "line\nbreak",
        "event_id: must be non-empty printable ASCII: no line breaks or control characters (sent as a header)",
    ),
    (
        "request_timeout_ms",
        0,
        "request_timeout_ms: must be a whole number of at least 1 (milliseconds)",
    ),
    (
        "max_attempts",
        0,
        "max_attempts: must be a whole number from 1 to 5 (the gateway makes at most 5 attempts)",
    ),
    (
        "max_attempts",
        6,
        "max_attempts: must be a whole number from 1 to 5 (the gateway makes at most 5 attempts)",
    ),
    (
        "retry_delay_ms",
        5001,
        "retry_delay_ms: must be a whole number from 0 to 5000 (milliseconds; at most 5 s)",
    ),
    (
        "retry_delay_ms",
        -1,
        "retry_delay_ms: must be a whole number from 0 to 5000 (milliseconds; at most 5 s)",
    ),
    ("backoff", "fibonacci", "backoff: must be constant, linear or exponential"),
    (
        "custom_cost",
        {"per_token": 1},
        "custom_cost: takes only the fields per_token_in, per_token_out, per_cache_read_token, per_cache_write_token",
    ),
    (
        "custom_cost",
        {"per_token_in": -1},
        "custom_cost: per_token_in must be a number of at least 0",
    ),
    (
        "custom_cost",
        {"per_token_in": "cheap"},
        "custom_cost: per_token_in must be a number of at least 0",
    ),
    (
        "byok_alias",
        "te\nam",
        "byok_alias: must be non-empty printable ASCII: no line breaks or control characters (sent as a header)",
    ),
    ("zdr", "perhaps", "zdr: must be true or false"),
    ("metadata", "[" * 5000, 'metadata: must be a JSON object such as {"team":"search","user":42}'),
    (
        "custom_cost",
        '{"per_token_in":' * 5000,
        'custom_cost: must be a JSON object such as {"per_token_in":0.000001}',
    ),
    (
        "cache_ttl",
        b"60",
        "cache_ttl: must be 0 (do not cache) or whole seconds from 60 to 2592000 (1 month)",
    ),
]


@pytest.mark.parametrize(("field", "value", "problem"), BAD_OPTIONS)
def test_bad_request_option_is_refused_before_sending(
    gateway_env: GatewayEmulator, field: str, value: object, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _ask(cfgenai.build_client(), **{field: value})
    assert caught.value.problems == (problem,)
    assert gateway_env.requests == []


# The bad values an environment variable can hold (the rest have no text form).
BAD_ENVIRONMENT_OPTIONS = [
    (field, json.dumps(value) if isinstance(value, dict) else str(value), problem)
    for field, value, problem in BAD_OPTIONS
    if field != "cache_key" and isinstance(value, str | int | dict) and value != ""
]


@pytest.mark.parametrize(("field", "value", "problem"), BAD_ENVIRONMENT_OPTIONS)
def test_bad_environment_option_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, problem: str
) -> None:
    variable = next(o[1] for o in OPTIONS if o[0] == field)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN)
    assert caught.value.problems == (problem.replace(f"{field}:", f"{variable}:", 1),)


def test_unknown_request_option_names_the_closest_or_lists_them_all() -> None:
    with pytest.raises(ConfigError) as caught:
        request_options(cache_tll=60, colour="red")
    assert caught.value.problems[0] == "cache_tll: not a gateway option; did you mean cache_ttl?"
    assert caught.value.problems[1].startswith(
        "colour: not a gateway option; the options are cache_ttl, "
    )


def test_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        request_options(cache_ttl=1, backoff="x", zdr="y")
    assert [p.split(":")[0] for p in caught.value.problems] == ["cache_ttl", "backoff", "zdr"]


def test_environment_metadata_must_be_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CF_AIG_METADATA", "team=search")
    with pytest.raises(ConfigError) as caught:
        GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN)
    assert caught.value.problems == (
        'CF_AIG_METADATA: must be a JSON object such as {"team":"search","user":42}',
    )


def test_cache_ttl_0_turns_the_cache_off_for_a_request(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CF_AIG_CACHE_TTL", "300")
    client = cfgenai.build_client()
    _ask(client)
    _ask(client)  # answered from the cache
    _ask(client, cache_ttl=0)
    assert gateway_env.last_request.header("cf-aig-cache-ttl") == "0"
    assert len(gateway_env.upstream_requests) == 2  # the gateway did not answer from its cache
    monkeypatch.setenv("CF_AIG_CACHE_TTL", "0")
    _ask(cfgenai.build_client())
    assert gateway_env.last_request.header("cf-aig-cache-ttl") == "0"
    assert len(gateway_env.upstream_requests) == 3


# -- the emulator judges the client: its own reading of Cloudflare's rules -----------------------


def test_the_emulator_imports_none_of_the_clients_rules() -> None:
    import ast

    import cfgenai.testing

    rules = {"_options", "_checks", "_settings", "_sources", "_plan", "_validators"}
    for path in Path(cfgenai.testing.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module not in rules, f"{path.name} imports cfgenai.{node.module}"


def test_the_emulator_reads_every_option_header_the_client_sends() -> None:
    from cfgenai.testing._rules import RULES

    assert set(RULES) == set(OPTION_HEADERS.values())


# Values a client rule gone wrong would let through (say max_attempts checked as 1 to 9).
WRONG_ON_THE_CLIENT = [
    ("max_attempts", 9),
    ("cache_ttl", 40 * 24 * 3600),
    ("retry_delay_ms", 6000),
    ("backoff", "fibonacci"),
    ("metadata", {str(i): i for i in range(6)}),
    ("metadata", {"cf.user": "x"}),
    ("custom_cost", {"per_token_in": -1}),
    ("custom_cost", {"per_token": 1}),
    ("otel_trace_id", "0" * 32),
    ("zdr", "yes"),
]


@pytest.mark.parametrize(("option", "value"), WRONG_ON_THE_CLIENT)
def test_a_client_rule_gone_wrong_is_caught_by_the_emulator(
    gateway_env: GatewayEmulator, build: Build, option: str, value: object
) -> None:
    from cfgenai._options import GatewayOptions

    with pytest.raises(ConfigError):  # the client's rule, as it is
        request_options(**{option: value})
    # As if it had let the value through: the options built unchecked, sent as cfgenai sends.
    headers = GatewayOptions.model_construct(**{option: value}).headers()
    config = types.GenerateContentConfig(http_options=types.HttpOptions(headers=headers))
    with pytest.raises(GatewayError) as caught:
        build().models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)
    assert caught.value.gateway_code == 2005
    assert OPTION_HEADERS[option] in str(caught.value)
    assert gateway_env.upstream_requests == []
