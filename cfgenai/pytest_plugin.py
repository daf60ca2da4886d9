"""pytest plugin (``pytest11``): the ``cf_gateway`` fixture, and a guard keeping cfgenai's clients
on this machine unless the run is live. The emulator is imported only when a test asks for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from cfgenai.testing import GatewayEmulator

_live = True  # until pytest_configure reads the run's options


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("cfgenai")
    group.addoption(
        "--gateway-live",
        action="store_true",
        help="let cfgenai's clients reach a gateway off this machine (CF_AIG_LIVE=1 does too)",
    )
    group.addoption(
        "--gateway-record",
        choices=("none", "once", "all"),
        default="none",
        help="gateway_cassette tests: replay (none), record missing cassettes (once), record all",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _live
    _live = config.getoption("gateway_live") or os.environ.get("CF_AIG_LIVE") == "1"
    config.addinivalue_line("markers", "gateway_cassette(path=None): cf_gateway replays a cassette")


def refusal(url: str) -> str | None:
    """Why a request to ``url``, a gateway off this machine, may not leave now (None: it may)."""
    if _live:
        return None
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rpartition(" (")[0] or "code pytest imported"
    return (
        f"{test} would send to {urlsplit(url).hostname}, off this machine: refused before "
        "anything was sent. Use the cf_gateway fixture to reach the emulator, or run "
        "pytest with --gateway-live (or CF_AIG_LIVE=1) to reach a real gateway"
    )


_left: Any = None  # the client the last cf_gateway test left, and the environment it was built in


@pytest.fixture(scope="session")
def cf_gateway_options() -> dict[str, Any]:
    """Keyword arguments for the session's ``GatewayEmulator``; override it in conftest.py."""
    return {
        "token": "cfgenai-test-token",
        "stored_keys": {"default": "cfgenai-test-stored-key"},
        "api_token": "cfgenai-test-api-token",
    }


@pytest.fixture(scope="session")
def cf_gateway_session(cf_gateway_options: dict[str, Any]) -> Iterator[GatewayEmulator]:
    """The gateway emulator, started once per test session on a free loopback port."""
    from cfgenai.testing import GatewayEmulator

    global _left
    with GatewayEmulator(**cf_gateway_options) as gateway:
        yield gateway
    _left = None


@pytest.fixture
def cf_gateway(
    cf_gateway_session: GatewayEmulator, request: pytest.FixtureRequest
) -> Iterator[GatewayEmulator]:
    """The emulator, reset, with the environment pointing ``cfgenai.client`` and ``build_client()``
    at it alone (no other ``CF_AIG_*``, ``CLOUDFLARE_*``, ``GOOGLE_*``, ``GEMINI_*``, ``.env``, or
    proxy for loopback), the shared client built for that environment (once per session),
    and faults reaching the app at once (``CF_AIG_RETRIES=0``, ``CF_AIG_RETRY_DELAY=0``). Set
    variables after it."""
    from cfgenai import _client
    from cfgenai.testing import _cassette

    # The test's monkeypatch if it has one, so that undoing goes in order whichever fixture came
    # first; else one of its own (pytest's cost of one more fixture is most of this one's).
    shared = "monkeypatch" in request.fixturenames
    monkeypatch = request.getfixturevalue("monkeypatch") if shared else pytest.MonkeyPatch()
    try:
        cassette = _cassette.for_test(request)  # None unless marked gateway_cassette
        for name in list(os.environ):
            if name.upper().startswith(("CF_AIG_", "CLOUDFLARE_", "GOOGLE_", "GEMINI_")):
                monkeypatch.delenv(name)
        for name in ("NO_PROXY", "no_proxy"):
            bypass = f"{os.environ.get(name, '')},127.0.0.1,localhost,::1".lstrip(",")
            monkeypatch.setenv(name, bypass)
        environment = {"CF_AIG_ENV_FILE": "", "CF_AIG_RETRIES": "0", "CF_AIG_RETRY_DELAY": "0"}
        for name, value in (environment | cf_gateway_session.env()).items():
            monkeypatch.setenv(name, value)
        cf_gateway_session.reset()
        # The shared client is forgotten, not closed (an app may hold what it took, a cached
        # .models); the last test's is taken again if built in the environment then in use. A
        # test that set variables passes its own on to none (nor the warnings they caused).
        global _left
        _client.swap(_left)
        if cassette is not None:
            cassette.start(cf_gateway_session, monkeypatch)
        before = _client.environment()
        yield cf_gateway_session
        left = _client.swap(None)
        _left = left if _client.environment() == before else None
        if cassette is not None:
            cassette.finish()
    finally:
        if not shared:
            monkeypatch.undo()
