"""pytest plugin (the ``pytest11`` entry point): the ``cf_gateway`` fixture. It imports the
emulator only when a test asks for it, so without the ``testing`` extra it changes nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cfgenai.testing import GatewayEmulator

_LOOPBACK = "127.0.0.1,localhost,::1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("cfgenai").addoption(
        "--gateway-record",
        choices=("none", "once", "all"),
        default="none",
        help="gateway_cassette tests: replay (none), record missing cassettes (once), record all",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gateway_cassette(path=None): cf_gateway answers from a recorded cassette"
    )


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
    from cfgenai import reset_client
    from cfgenai.testing import GatewayEmulator

    with GatewayEmulator(**cf_gateway_options) as gateway:
        yield gateway
    reset_client()  # and the client the last test left for the next


@pytest.fixture
def cf_gateway(
    cf_gateway_session: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[GatewayEmulator]:
    """The emulator, reset, and the environment pointing ``cfgenai.client`` and ``build_client()``
    at it alone: no ``CF_AIG_*``, ``CLOUDFLARE_*``, ``GOOGLE_*`` or ``GEMINI_*`` variable, no
    ``.env``, no proxy for loopback, the shared client built anew. Set variables after it."""
    from cfgenai import reset_client
    from cfgenai.testing import _cassette

    cassette = _cassette.for_test(request)  # None unless marked gateway_cassette
    for name in list(os.environ):
        if name.upper().startswith(("CF_AIG_", "CLOUDFLARE_", "GOOGLE_", "GEMINI_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CF_AIG_ENV_FILE", "")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, ",".join(filter(None, (os.environ.get(name), _LOOPBACK))))
    for name, value in cf_gateway_session.env().items():
        monkeypatch.setenv(name, value)
    cf_gateway_session.reset()
    reset_client()  # forgotten, not closed: an app may hold what it took (a cached .models)
    if cassette is not None:
        cassette.start(cf_gateway_session, monkeypatch)
    yield cf_gateway_session
    reset_client()
    if cassette is not None:
        cassette.finish()
