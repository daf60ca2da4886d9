"""The plugin in a user's project. Whose ``.env`` names the production gateway: a test that
forgets ``cf_gateway`` is refused before any DNS lookup, on every sender cfgenai builds, unless
the run is live (``--gateway-live`` or ``CF_AIG_LIVE=1``). Under ``cf_gateway``, faults reach the
app at once, and retries a test asks for come without waiting."""

from __future__ import annotations

import pytest

from .conftest import ACCOUNT_ID, CANARIES, LIVE_MODEL, MODEL, TOKEN

ROUTES = ["sync", "stream", "async", "live", "frameworks", "openai", "logs"]

APP = f"""
import asyncio

from google import genai

import cfgenai
import cfgenai.logs
import cfgenai.openai
from cfgenai import client

MODEL = "{MODEL}"


async def _live():
    async with client.aio.live.connect(model="{LIVE_MODEL}", config={{}}) as session:
        return session


def ask(how):
    if how == "sync":
        return client.models.generate_content(model=MODEL, contents="hi").text
    if how == "stream":
        return list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    if how == "async":
        return asyncio.run(client.aio.models.generate_content(model=MODEL, contents="hi")).text
    if how == "live":
        return asyncio.run(_live())
    if how == "frameworks":  # a framework's own client, from cfgenai's arguments
        own = genai.Client(**cfgenai.client_kwargs())
        return own.models.generate_content(model=MODEL, contents="hi").text
    if how == "openai":
        answer = cfgenai.openai.openai_client().chat.completions.create(
            model="google-ai-studio/" + MODEL, messages=[{{"role": "user", "content": "hi"}}]
        )
        return answer.choices[0].message.content
    return cfgenai.logs.get_log("0190a8f2-5c3e-7d51-b872-1b978324f03e")
"""

TESTS = f"""
import pytest

import my_app
from cfgenai.testing import GatewayEmulator


@pytest.mark.parametrize("how", {ROUTES!r})
def test_forgets_the_fixture(how):
    my_app.ask(how)


def test_with_the_fixture(cf_gateway):
    assert my_app.ask("sync")


def test_on_its_own_loopback_server(monkeypatch):
    with GatewayEmulator(token="own") as own:
        monkeypatch.setenv("CF_AIG_BASE_URL", own.base_url)
        monkeypatch.setenv("CF_AIG_TOKEN", "own")
        assert my_app.ask("sync")
"""

# Any DNS lookup shows in the output: the guard must refuse before one.
CONFTEST = """
import socket


def _lookup(host, *args, **kwargs):
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise OSError(f"DNS LOOKUP of {host}")
    return _real(host, *args, **kwargs)


_real, socket.getaddrinfo = socket.getaddrinfo, _lookup
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: an app module importing ``client`` at its top, its tests, and a
    ``.env`` naming the production gateway with canary credentials."""
    pytester.makepyfile(my_app=APP, test_app=TESTS)
    pytester.makeconftest(CONFTEST)
    pytester.path.joinpath(".env").write_text(
        f"CF_AIG_ACCOUNT_ID={ACCOUNT_ID}\nCF_AIG_GATEWAY_ID=production\nCF_AIG_TOKEN={TOKEN}\n"
        f"GOOGLE_API_KEY={CANARIES[1]}\nCLOUDFLARE_API_TOKEN={CANARIES[5]}\nCF_AIG_RETRIES=0\n"
    )
    return pytester


def _output(result: pytest.RunResult) -> str:
    output = "\n".join(result.outlines + result.errlines)
    assert not any(canary in output for canary in CANARIES)
    return output


def test_a_test_without_the_fixture_is_refused_on_every_sender(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST")  # this test's, which the run would inherit
    project.makepyfile(test_at_import="import my_app\nmy_app.ask('sync')\n")  # at collection
    args = ("-p", "no:cacheprovider", "-rf", "--continue-on-collection-errors")
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2, failed=len(ROUTES), errors=1)
    output = _output(result)
    assert "DNS LOOKUP" not in output
    assert "code pytest imported would send to gateway.ai.cloudflare.com" in output
    for how in ROUTES:
        host = "api.cloudflare.com" if how == "logs" else "gateway.ai.cloudflare.com"
        test = f"test_app.py::test_forgets_the_fixture[{how}]"
        assert f"{test} would send to {host}, off this machine: refused before" in output
    assert output.count("Use the cf_gateway fixture to reach the emulator") >= len(ROUTES)
    assert "--gateway-live (or CF_AIG_LIVE=1) to reach a real gateway" in output
    assert "ConfigError" in output


@pytest.mark.parametrize("switch", ["--gateway-live", "CF_AIG_LIVE=1"])
def test_a_live_run_reaches_the_real_gateway(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    if switch.startswith("CF_AIG_LIVE"):
        monkeypatch.setenv("CF_AIG_LIVE", "1")
    args = [switch] if switch.startswith("--") else []
    test = "test_app.py::test_forgets_the_fixture[sync]"
    result = project.runpytest_subprocess("-p", "no:cacheprovider", test, *args)
    result.assert_outcomes(failed=1)
    output = _output(result)
    assert "DNS LOOKUP of gateway.ai.cloudflare.com" in output  # it tried: the switch let it
    assert "off this machine" not in output and "not a cfgenai variable" not in output


# tenacity (google-genai's retries) waits with time.sleep and asyncio.sleep: each wait is noted.
WAITS = """
import asyncio
import sys
import time

import pytest

waits = []
_sleep, _async_sleep = time.sleep, asyncio.sleep


def _note(seconds):
    if sys._getframe(2).f_globals.get("__name__", "").startswith("tenacity"):
        waits.append(seconds)


def sleep(seconds):
    _note(seconds)
    _sleep(seconds)


def async_sleep(seconds, *args, **kwargs):
    _note(seconds)
    return _async_sleep(seconds, *args, **kwargs)


time.sleep, asyncio.sleep = sleep, async_sleep


@pytest.fixture
def tenacity_waits():
    waits.clear()
    return waits
"""

FAULTS = f"""
import asyncio

import pytest

from cfgenai import GatewayError, client

MODEL = "{MODEL}"


def ask(how):
    if how == "async":
        return asyncio.run(client.aio.models.generate_content(model=MODEL, contents="hi")).text
    if how == "stream":
        chunks = client.models.generate_content_stream(model=MODEL, contents="hi")
        return "".join(chunk.text for chunk in chunks)
    return client.models.generate_content(model=MODEL, contents="hi").text


@pytest.mark.parametrize("how", ["sync", "async", "stream"])
def test_a_fault_is_raised_at_once(cf_gateway, tenacity_waits, how):
    cf_gateway.refuse_next(2003)
    with pytest.raises(GatewayError, match="code 2003"):
        ask(how)
    assert len(cf_gateway.requests) == 1 and tenacity_waits == []


def test_a_cut_connection_is_raised_at_once(cf_gateway, tenacity_waits):
    cf_gateway.drop_next(after_chunks=0)
    with pytest.raises(Exception):
        ask("sync")
    assert len(cf_gateway.requests) == 1 and tenacity_waits == []


@pytest.mark.parametrize("how", ["sync", "async", "stream"])
def test_asked_for_retries_do_not_wait(cf_gateway, monkeypatch, tenacity_waits, how):
    monkeypatch.setenv("CF_AIG_RETRIES", "3")
    cf_gateway.fail_next(503, times=3)
    assert ask(how)
    assert len(cf_gateway.requests) == 4
    assert len(tenacity_waits) == 3 and max(tenacity_waits) < 0.001
"""


@pytest.mark.parametrize("aiohttp", ["with aiohttp", "without aiohttp"])
def test_faults_reach_the_app_at_once(pytester: pytest.Pytester, aiohttp: str) -> None:
    pytester.makepyfile(test_faults=FAULTS)
    hidden = "sys.modules['aiohttp'] = None\n" if aiohttp == "without aiohttp" else ""
    pytester.makeconftest(WAITS + hidden)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=7)


# Checked after every test, once the fixtures are undone: the user's environment is back.
UNDONE = """
import os

import pytest


@pytest.fixture(autouse=True)
def the_users_environment_after():
    yield
    assert os.environ.get("CF_AIG_TOKEN") == "the user's"
    assert os.environ.get("NO_PROXY") == "corp.example"
    assert "CF_AIG_RETRIES" not in os.environ and "CF_AIG_BASE_URL" not in os.environ


@pytest.fixture
def own_patch():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CF_AIG_TOKEN", "the fixture's")
        yield
"""

ORDERS = """
import os

import pytest


def test_monkeypatch_first(monkeypatch, cf_gateway):
    monkeypatch.setenv("CF_AIG_TOKEN", "the test's")


def test_monkeypatch_second(cf_gateway, monkeypatch):
    monkeypatch.setenv("CF_AIG_TOKEN", "the test's")


def test_monkeypatch_asked_for_later(cf_gateway, request):
    request.getfixturevalue("monkeypatch").setenv("CF_AIG_TOKEN", "the test's")


def test_another_patch_first(own_patch, cf_gateway):
    assert os.environ["CF_AIG_TOKEN"] == cf_gateway.token


def test_no_monkeypatch(cf_gateway):
    assert os.environ["CF_AIG_RETRIES"] == "0"


@pytest.mark.gateway_cassette("missing.yaml")
def test_a_cassette_that_fails_its_setup(cf_gateway):
    pass
"""


def test_the_users_environment_is_back_after_each_test_whichever_fixture_came_first(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CF_AIG_TOKEN", "the user's")
    monkeypatch.setenv("NO_PROXY", "corp.example")
    for name in ("CF_AIG_RETRIES", "CF_AIG_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(UNDONE)
    pytester.makepyfile(test_orders=ORDERS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, errors=1)
    assert "cassette missing.yaml does not exist" in "\n".join(result.outlines)
