"""Who pays the provider: the gateway's credential order, Unified Billing and no_wholesale."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from google.genai import errors

from cfgenai import GatewayError
from cfgenai._commands import diagnose, print_diagnosis
from cfgenai.testing import GatewayEmulator
from cfgenai.testing._billing import UNIFIED_BILLING_KEY

from .calls import CALLS
from .conftest import GOOGLE_KEY, TEAM_KEY, TOKEN, Build


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def unified_session(clock: Clock) -> Iterator[GatewayEmulator]:
    """A gateway with Unified Billing (limited to 2 requests per 60 s), one key stored as
    "team" and none as "default"."""
    with GatewayEmulator(
        token=TOKEN,
        google_keys=[GOOGLE_KEY],
        stored_keys={"team": TEAM_KEY},
        unified_billing=True,
        unified_billing_limit=(2, 60.0),
        clock=clock,
    ) as emulator:
        yield emulator


@pytest.fixture
def unified(unified_session: GatewayEmulator, clock: Clock) -> GatewayEmulator:
    unified_session.reset()
    clock.now = 0.0
    return unified_session


def _client(build: Build, gateway: GatewayEmulator, mode: str, **settings: object):  # type: ignore[no-untyped-def]
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    return build(base_url=gateway.base_url, token=TOKEN, retries=0, **key, **settings)


@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("call", list(CALLS))
def test_no_wholesale_from_the_environment_is_sent_on_every_call(
    gateway_env: GatewayEmulator,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    mode: str,
) -> None:
    monkeypatch.setenv("CF_AIG_NO_WHOLESALE", "true")
    if mode == "key":
        monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    _, text = CALLS[call](build())
    assert text.startswith("Echo from")
    request = gateway_env.last_request
    assert request.header("cf-aig-no-wholesale") == "true"
    assert (request.header("x-goog-api-key") is None) == (mode == "byok")
    # a stored key (byok) or the request's own (key) paid: never credits
    assert gateway_env.logs[-1]["billing"] == ("stored" if mode == "byok" else "request")


@pytest.mark.parametrize("call", list(CALLS))
def test_no_wholesale_per_request_and_absent_by_default(
    gateway_env: GatewayEmulator, build: Build, call: str
) -> None:
    client = build()
    CALLS[call](client)
    assert gateway_env.last_request.header("cf-aig-no-wholesale") is None
    CALLS[call](client, no_wholesale=True)
    assert gateway_env.last_request.header("cf-aig-no-wholesale") == "true"


@pytest.mark.parametrize("call", list(CALLS))
def test_without_a_stored_key_unified_billing_pays(
    unified: GatewayEmulator, build: Build, call: str
) -> None:
    _, text = CALLS[call](_client(build, unified, "byok"))
    assert text.startswith("Echo from")
    assert unified.upstream_requests[-1].header("x-goog-api-key") == UNIFIED_BILLING_KEY
    assert unified.logs[-1]["billing"] == "unified"


@pytest.mark.parametrize("call", list(CALLS))
def test_no_wholesale_refuses_credits_with_a_400_that_names_the_fix(
    unified: GatewayEmulator, build: Build, call: str
) -> None:
    client = _client(build, unified, "byok", no_wholesale=True)
    with pytest.raises(errors.ClientError) as caught:
        CALLS[call](client)
    error = caught.value
    assert isinstance(error, GatewayError)
    assert (error.code, error.gateway_code) == (400, 2044)
    assert "CF_AIG_NO_WHOLESALE" in error.hint and "store a Google key" in error.hint
    assert unified.upstream_requests == []  # nobody paid, Google saw nothing


def test_a_misspelt_alias_bills_credits_unless_no_wholesale(
    unified: GatewayEmulator, build: Build
) -> None:
    CALLS["sync"](_client(build, unified, "byok", byok_alias="teem"))
    assert unified.logs[-1]["billing"] == "unified"
    with pytest.raises(GatewayError) as caught:
        CALLS["sync"](_client(build, unified, "byok", byok_alias="teem", no_wholesale=True))
    assert caught.value.gateway_code == 2044
    CALLS["sync"](_client(build, unified, "byok", byok_alias="team", no_wholesale=True))
    assert unified.upstream_requests[-1].header("x-goog-api-key") == TEAM_KEY
    assert unified.logs[-1]["billing"] == "stored"


def test_the_request_key_comes_first(unified: GatewayEmulator, build: Build) -> None:
    CALLS["sync"](_client(build, unified, "key", byok_alias="team"))
    assert unified.upstream_requests[-1].header("x-goog-api-key") == GOOGLE_KEY
    assert unified.logs[-1]["billing"] == "request"


def test_unified_billing_rate_limit_is_an_opt_in_with_its_own_hint(
    unified: GatewayEmulator, clock: Clock, build: Build
) -> None:
    client = _client(build, unified, "byok")
    CALLS["sync"](client)
    CALLS["async"](client)
    with pytest.raises(errors.ClientError) as caught:
        CALLS["sync-stream"](client)
    error = caught.value
    assert isinstance(error, GatewayError)
    assert (error.code, error.gateway_code) == (429, 2003)
    assert error.hint.startswith("Unified Billing's rate limit (200 requests per 60 s")
    CALLS["sync"](_client(build, unified, "byok", byok_alias="team"))  # a stored key: no limit
    clock.now = 61.0
    CALLS["sync"](client)
    assert [e["billing"] for e in unified.logs] == ["unified", "unified", None, "stored", "unified"]


def test_without_unified_billing_there_is_no_limit(gateway: GatewayEmulator, build: Build) -> None:
    client = build(base_url=gateway.base_url, token=TOKEN)
    for _ in range(3):
        CALLS["sync"](client)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "the key stored in the gateway under the alias 'default', else Unified Billing"),
        ({"CF_AIG_BYOK_ALIAS": "team"}, "under the alias 'team', else Unified Billing"),
        ({"CF_AIG_NO_WHOLESALE": "true"}, "'default' only (CF_AIG_NO_WHOLESALE=true)"),
        ({"GOOGLE_API_KEY": GOOGLE_KEY}, "your own credential in the request only"),
    ],
)
def test_doctor_says_who_can_pay(
    gateway_env: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: dict[str, str],
    expected: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    diagnosis = diagnose(ping=False)
    assert diagnosis.billing is not None and expected in diagnosis.billing
    print_diagnosis(diagnosis, sys.stdout)
    assert f"pays  {diagnosis.billing}\n" in capsys.readouterr().out
