"""What the gateway answers: response info, its own errors, caching, retries, BYOK aliases."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from google.genai import errors, types

import cfgenai
from cfgenai import GatewayError, GatewayInfo, gateway_info, request_options
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, STORED_KEY, TEAM_KEY, TOKEN, UUID7, Build


def _config(**options: object) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(http_options=request_options(**options))


def _sync(client: cfgenai.genai.Client, **options: object) -> GatewayInfo:  # type: ignore[name-defined]
    return gateway_info(
        client.models.generate_content(model=MODEL, contents="hi", config=_config(**options))
    )


def _sync_stream(client, **options):  # type: ignore[no-untyped-def]
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents="hi", config=_config(**options))
    )
    assert len(chunks) > 1
    return gateway_info(chunks[0])


def _async(client, **options):  # type: ignore[no-untyped-def]
    async def call() -> GatewayInfo:
        async with client.aio as aio:
            return gateway_info(
                await aio.models.generate_content(
                    model=MODEL, contents="hi", config=_config(**options)
                )
            )

    return asyncio.run(call())


def _async_stream(client, **options):  # type: ignore[no-untyped-def]
    async def call() -> GatewayInfo:
        async with client.aio as aio:
            stream = await aio.models.generate_content_stream(
                model=MODEL, contents="hi", config=_config(**options)
            )
            chunks = [chunk async for chunk in stream]
        return gateway_info(chunks[0])

    return asyncio.run(call())


CALLS = {"sync": _sync, "sync-stream": _sync_stream, "async": _async, "async-stream": _async_stream}


@pytest.mark.parametrize("call", list(CALLS))
def test_gateway_info_from_every_kind_of_response(
    gateway_env: GatewayEmulator, call: str, build: Build
) -> None:
    info = CALLS[call](build(), event_id="trace-1", cache_ttl=60)
    assert info.cache_status == "MISS"
    assert info.log_id is not None and re.fullmatch(UUID7, info.log_id)
    assert info.request_id == info.log_id  # one step: the request id is the log id
    assert info.event_id == "trace-1"
    assert (info.step, info.model, info.provider) == (0, MODEL, "google-ai-studio")
    again = CALLS[call](build(), event_id="trace-1", cache_ttl=60)
    assert again.cache_status == "HIT"
    assert len(gateway_env.upstream_requests) == 1  # the second answer came from the cache


def test_gateway_info_missing_headers_are_none() -> None:
    assert gateway_info({}) == GatewayInfo(None, None, None, None, None, None)
    assert gateway_info({"CF-AIG-STEP": "2", "cf-aig-cache-status": "HIT"}).step == 2
    assert gateway_info({"cf-aig-step": "\u00b2"}).step is None  # a digit, but no number
    with pytest.raises(TypeError, match="gateway_info\\(\\) takes a google-genai response"):
        gateway_info(42)


def test_gateway_info_without_caching_has_no_cache_status(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    info = _sync(build())
    assert info.cache_status is None
    assert info.event_id == info.request_id == info.log_id  # none named: the request's own id


@pytest.fixture
def strict_gateway() -> Iterator[GatewayEmulator]:
    """A gateway that routes only one account and gateway id."""
    with GatewayEmulator(
        token=TOKEN, stored_keys={"default": STORED_KEY}, account_id="acct", gateway_id="prod"
    ) as emulator:
        yield emulator


def test_gateway_not_found_2001_points_at_account_and_gateway(
    strict_gateway: GatewayEmulator, build: Build
) -> None:
    client = build(base_url=f"{strict_gateway.url}/v1/acct/staging", token=TOKEN)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="hi")
    error = caught.value
    assert isinstance(error, GatewayError)
    assert (error.code, error.gateway_code) == (400, 2001)
    assert str(error) == (
        "400 Cloudflare AI Gateway refused the request with code 2001 (Gateway does not exist): "
        "no such gateway: check CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID (or CF_AIG_BASE_URL)"
    )
    assert error.details["name"] == "AiGatewayError"


@pytest.mark.parametrize("call", list(CALLS))
def test_unauthorized_2009_names_the_token_on_every_transport(
    gateway_env: GatewayEmulator, call: str, build: Build
) -> None:
    with pytest.raises(errors.ClientError) as caught:
        CALLS[call](build(token="wrong-token", retries=0))
    error = caught.value
    assert isinstance(error, GatewayError)
    assert (error.code, error.gateway_code) == (401, 2009)
    assert "check CF_AIG_TOKEN" in str(error)
    for canary in CANARIES:
        assert canary not in str(error) + repr(error)


@pytest.mark.parametrize(
    ("code", "status", "setting"),
    [
        (2003, 429, "CF_AIG_RETRIES"),
        (2005, 400, "request_options(...)"),
        (7000, 400, "CF_AIG_BASE_URL and CF_AIG_API_VERSION"),
    ],
)
def test_gateway_refusals_say_what_to_check(
    gateway_env: GatewayEmulator, code: int, status: int, setting: str, build: Build
) -> None:
    gateway_env.refuse_next(code)
    with pytest.raises(GatewayError) as caught:
        _sync(build(retries=0))
    assert (caught.value.code, caught.value.gateway_code) == (status, code)
    assert setting in caught.value.hint
    assert gateway_env.upstream_requests == []


def test_unknown_byok_alias_2040(gateway_env: GatewayEmulator, build: Build) -> None:
    with pytest.raises(GatewayError) as caught:
        _sync(build(byok_alias="nobody"))
    assert caught.value.gateway_code == 2040
    assert "CF_AIG_BYOK_ALIAS" in str(caught.value)


def test_rate_limit_2003_is_retried_client_side(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.refuse_next(2003)
    assert _sync(build(retries=1)).provider == "google-ai-studio"
    assert len(gateway_env.requests) == 2


def test_raw_bad_option_header_is_refused_by_the_gateway(
    gateway_env: GatewayEmulator, build: Build
) -> None:
    # cfgenai never sends this itself; a hand-written header reaches the gateway unchecked.
    config = types.GenerateContentConfig(
        http_options=types.HttpOptions(headers={"cf-aig-max-attempts": "9"})
    )
    with pytest.raises(GatewayError) as caught:
        build().models.generate_content(model=MODEL, contents="hi", config=config)
    assert caught.value.gateway_code == 2005
    assert "cf-aig-max-attempts: must be 1 to 5" in str(caught.value)


def test_googles_errors_stay_googles(gateway_env: GatewayEmulator, build: Build) -> None:
    with pytest.raises(errors.ClientError) as caught:
        _sync(build(google_api_key="not-a-key", retries=0))
    assert not isinstance(caught.value, GatewayError)
    assert caught.value.status == "INVALID_ARGUMENT"
    gateway_env.fail_next(503)
    with pytest.raises(errors.ServerError) as server:
        _sync(build(retries=0))
    assert not isinstance(server.value, GatewayError)
    assert server.value.status == "UNAVAILABLE"


def test_byok_alias_picks_the_stored_key(gateway_env: GatewayEmulator, build: Build) -> None:
    client = build(byok_alias="team")
    _sync(client)
    _sync(client, byok_alias="default")
    keys = [r.header("x-goog-api-key") for r in gateway_env.upstream_requests]
    assert keys == [TEAM_KEY, STORED_KEY]
    assert all("x-goog-api-key" not in r.headers for r in gateway_env.requests)
    assert all(
        not any(h.startswith("cf-aig-") for h in r.headers) for r in gateway_env.upstream_requests
    )


def test_key_mode_forwards_the_request_key(gateway_env: GatewayEmulator, build: Build) -> None:
    _sync(build(google_api_key=GOOGLE_KEY, byok_alias="team"))
    assert gateway_env.upstream_requests[0].header("x-goog-api-key") == GOOGLE_KEY


def test_gateway_retries_a_flaky_upstream(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.fail_next(503, times=2)
    info = _sync(build(retries=0), max_attempts=3, retry_delay_ms=10, backoff="exponential")
    assert info.provider == "google-ai-studio"
    assert len(gateway_env.requests) == 1
    assert len(gateway_env.upstream_requests) == 3


def test_gateway_gives_up_after_max_attempts(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.fail_next(503, times=5)
    with pytest.raises(errors.ServerError):
        _sync(build(retries=0), max_attempts=2)
    assert len(gateway_env.upstream_requests) == 2


def test_skip_cache_and_cache_key(gateway_env: GatewayEmulator, build: Build) -> None:
    client = build(cache_ttl=300)
    assert _sync(client).cache_status == "MISS"
    assert _sync(client).cache_status == "HIT"
    assert _sync(client, skip_cache=True).cache_status == "MISS"
    assert _sync(client, cache_key="shared").cache_status == "MISS"
    different_prompt = client.models.generate_content(
        model=MODEL, contents="something else", config=_config(cache_key="shared")
    )
    assert gateway_info(different_prompt).cache_status == "HIT"
    assert different_prompt.text == f"Echo from {MODEL}: hi"  # the answer stored under that key
    assert len(gateway_env.upstream_requests) == 3


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cached_answers_expire_after_their_ttl(build: Build) -> None:
    clock = FakeClock()
    with GatewayEmulator(token=TOKEN, stored_keys={"default": STORED_KEY}, clock=clock) as gateway:
        client = build(base_url=gateway.base_url, token=TOKEN, cache_ttl=60)
        assert _sync(client).cache_status == "MISS"
        clock.now += 59
        assert _sync(client).cache_status == "HIT"
        clock.now += 1
        assert _sync(client).cache_status == "MISS"
        assert len(gateway.upstream_requests) == 2


def test_gateway_wide_cache_setting(build: Build) -> None:
    with GatewayEmulator(
        token=TOKEN, stored_keys={"default": STORED_KEY}, cache_ttl=300
    ) as gateway:
        client = build(base_url=gateway.base_url, token=TOKEN)
        assert [_sync(client).cache_status for _ in range(2)] == ["MISS", "HIT"]


# The async httpx path (users without aiohttp) has its own response hook: prove it in a child
# process where `import aiohttp` fails.
_REFUSED_WITHOUT_AIOHTTP = """
import sys
sys.modules["aiohttp"] = None
import asyncio, cfgenai

async def main():
    async with cfgenai.build_client(retries=0).aio as aio:
        try:
            await aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
        except cfgenai.GatewayError as exc:
            print(type(exc).__name__, exc.gateway_code, exc.code)

asyncio.run(main())
"""


def test_gateway_error_on_async_httpx_without_aiohttp(gateway: GatewayEmulator) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, **gateway.env(), "CF_AIG_TOKEN": "not-the-token"}
    done = subprocess.run(
        [sys.executable, "-c", _REFUSED_WITHOUT_AIOHTTP],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (0, "GatewayClientError 2009 401\n"), done.stderr


# -- Policies (beta) and rate-limit rules: refusals without a gateway code -------------------

POLICY_REFUSALS = {
    "policy": (403, "(Access denied by policy): a Policy of the gateway denied the request"),
    "spend": (429, "(Spending limit exceeded: spent 12.5 of 10): a spend limit of the gateway"),
    "rate": (429, "(Rate limited): the gateway answered 429: its rate limit"),
}


@pytest.mark.parametrize("kind", list(POLICY_REFUSALS))
@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("call", list(CALLS))
def test_policies_and_rate_limit_rules_raise_gateway_errors_with_a_hint(
    gateway_env: GatewayEmulator, build: Build, call: str, mode: str, kind: str
) -> None:
    status, message = POLICY_REFUSALS[kind]
    gateway_env.refuse_next(kind, spent=12.5, limit=10)  # type: ignore[arg-type]
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    with pytest.raises(GatewayError) as caught:
        CALLS[call](build(mode=mode, retries=0, **key))
    error = caught.value
    assert (error.code, error.gateway_code) == (status, None)
    assert (
        str(error)
        == f"{status} Cloudflare AI Gateway refused the request {message}"
        + str(error).split(message, 1)[1]
    )
    assert gateway_env.upstream_requests == []


def test_an_emulator_with_policies_denies_what_none_allows_and_serves_the_cache(
    build: Build,
) -> None:
    def team_search(request: object) -> bool:
        return '"team":"search"' in (request.header("cf-aig-metadata") or "")  # type: ignore[attr-defined]

    with GatewayEmulator(token=TOKEN, policies=[team_search]) as gateway:
        client = build(base_url=gateway.base_url, token=TOKEN, cache_ttl=60)
        with pytest.raises(GatewayError, match="Access denied by policy"):
            client.models.generate_content(
                model=MODEL, contents="hi", config=_config(metadata={"team": "ads"})
            )
        allowed = client.models.generate_content(
            model=MODEL, contents="hi", config=_config(metadata={"team": "search"})
        )
        assert gateway_info(allowed).cache_status == "MISS"
        # The same request from another team: the cached answer skips the policies.
        again = client.models.generate_content(
            model=MODEL, contents="hi", config=_config(metadata={"team": "ads"})
        )
        assert (gateway_info(again).cache_status, again.text) == ("HIT", allowed.text)
        assert len(gateway.upstream_requests) == 1


def test_a_plain_429_from_google_stays_googles(gateway_env: GatewayEmulator, build: Build) -> None:
    gateway_env.fail_next(429)
    with pytest.raises(errors.ClientError) as caught:
        _sync(build(retries=0))
    assert not isinstance(caught.value, GatewayError)
    assert caught.value.status == "RESOURCE_EXHAUSTED"
