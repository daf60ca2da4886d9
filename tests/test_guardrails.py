"""Blocked and flagged content: Guardrails and Data Loss Prevention, and 429s with their hints."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.genai import errors

from cfgenai import GatewayError, gateway_info
from cfgenai.testing import GatewayEmulator
from cfgenai.types import DlpFinding, DlpInfo

from .calls import CALLS
from .conftest import CANARIES, TOKEN, Build

REFUSALS = {
    # code: (status, the provider was called, words of the hint)
    2016: (424, False, "Guardrails blocked the prompt"),
    2017: (424, True, "Guardrails blocked the model's response"),
    2021: (402, False, "Guardrails is out of credits"),
    7013: (503, False, "Guardrails is unavailable"),
    2029: (424, False, "Data Loss Prevention blocked the request"),
    2030: (424, True, "Data Loss Prevention blocked the model's response"),
}


@pytest.mark.parametrize("code", list(REFUSALS))
def test_each_refusal_is_a_gateway_error_with_its_hint(
    gateway_env: GatewayEmulator, build: Build, code: int
) -> None:
    status, called, hint = REFUSALS[code]
    gateway_env.refuse_next(code)
    with pytest.raises(errors.APIError) as caught:
        CALLS["sync"](build(retries=0))
    error = caught.value
    assert isinstance(error, GatewayError)
    assert (error.code, error.gateway_code) == (status, code)
    assert hint in error.hint and hint in str(error)
    assert len(gateway_env.upstream_requests) == (1 if called else 0)
    info = gateway_info(error)
    assert info.request_id is not None and info.request_id == info.log_id
    assert gateway_env.log_entry(info.log_id)["status_code"] == status


@pytest.mark.parametrize("call", list(CALLS))
def test_a_blocked_prompt_on_every_transport(
    gateway_env: GatewayEmulator, build: Build, call: str
) -> None:
    gateway_env.refuse_next(2016)
    with pytest.raises(GatewayError, match="Guardrails blocked the prompt") as caught:
        CALLS[call](build())
    assert caught.value.gateway_code == 2016
    assert not any(c in str(caught.value) for c in CANARIES)


@pytest.mark.parametrize("call", list(CALLS))
def test_a_dlp_flag_reaches_gateway_info(
    gateway_env: GatewayEmulator, build: Build, call: str
) -> None:
    gateway_env.dlp_next("FLAG", check="RESPONSE", profile_id="pii", entry_ids=["email"])
    response, text = CALLS[call](build())
    assert text.startswith("Echo from")
    assert gateway_info(response).dlp == DlpInfo(
        "FLAG", (DlpFinding("RESPONSE", "pii", ("email",), ("emulator-dlp-policy",)),)
    )
    again, _ = CALLS[call](build())
    assert gateway_info(again).dlp is None  # scripted for one request only


@pytest.mark.parametrize(("check", "code"), [("REQUEST", 2029), ("RESPONSE", 2030)])
def test_a_dlp_block_carries_its_findings(
    gateway_env: GatewayEmulator, build: Build, check: str, code: int
) -> None:
    gateway_env.dlp_next("BLOCK", check=check, route=":generateContent")  # type: ignore[arg-type]
    with pytest.raises(GatewayError) as caught:
        CALLS["async"](build())
    assert caught.value.gateway_code == code
    dlp = gateway_info(caught.value).dlp
    assert dlp is not None and dlp.action == "BLOCK"
    assert dlp.findings[0].check == check


@pytest.mark.parametrize(
    "header",
    [
        "{",
        "[]",
        "null",
        '"BLOCK"',
        '{"action": 3, "findings": "all"}',
        '{"findings": [1, {"profile": 2, "policy_ids": [3, "p"]}]}',
        "[" * 10_000,
    ],
)
def test_a_malformed_dlp_header_never_raises(header: str) -> None:
    dlp = gateway_info({"cf-aig-dlp": header}).dlp
    assert dlp is None or isinstance(dlp, DlpInfo)


def test_dlp_shapes() -> None:
    assert gateway_info({}).dlp is None
    odd = gateway_info({"cf-aig-dlp": '{"findings": [1, {"profile": 2, "policy_ids": [3, "p"]}]}'})
    assert odd.dlp == DlpInfo(None, (DlpFinding(None, None, (), ("p",)),))


@pytest.fixture(scope="module")
def guarded() -> Iterator[GatewayEmulator]:
    """A gateway with Guardrails on: streamed calls come back as one buffered payload."""
    with GatewayEmulator(token=TOKEN, guardrails=True) as emulator:
        yield emulator


@pytest.mark.parametrize("call", list(CALLS))
def test_a_stream_answered_as_one_buffered_payload_still_works(
    guarded: GatewayEmulator, build: Build, call: str
) -> None:
    guarded.reset()
    guarded.reply(["Hel", "lo ", "there"])
    response, text = CALLS[call](build(base_url=guarded.base_url, token=TOKEN))
    assert text == "Hello there"
    assert response.usage_metadata is not None
    assert gateway_info(response).provider == "google-ai-studio"
    if call.endswith("stream"):
        assert guarded.last_request.params == {"alt": "sse"}


@pytest.mark.parametrize(
    ("detail", "hint"),
    [
        ("Spend limit reached for this gateway", "a spend limit of the gateway is reached"),
        ("Unified Billing rate limit", "Unified Billing's rate limit"),
        (None, "its rate limit, Unified Billing's (200 requests per 60 s) or a spend limit"),
    ],
)
def test_a_429_hint_tells_rate_from_spend_limits_where_the_body_allows(
    gateway_env: GatewayEmulator, build: Build, detail: str | None, hint: str
) -> None:
    gateway_env.refuse_next(2003, detail=detail)
    with pytest.raises(GatewayError) as caught:
        CALLS["sync"](build(retries=0))
    assert caught.value.code == 429
    assert hint in caught.value.hint
