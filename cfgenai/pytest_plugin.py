"""pytest plugin (registered by the ``pytest11`` entry point): the ``cf_gateway`` fixture.

It imports the emulator only when a test asks for it, so installing cfgenai without the
``testing`` extra leaves every pytest run untouched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from cfgenai.testing import GatewayEmulator


@pytest.fixture(scope="session")
def cf_gateway_options() -> dict[str, Any]:
    """Keyword arguments for the session's ``GatewayEmulator``; override it in conftest.py."""
    return {"token": "cfgenai-test-token", "stored_keys": {"default": "cfgenai-test-stored-key"}}


@pytest.fixture(scope="session")
def cf_gateway_session(cf_gateway_options: dict[str, Any]) -> Iterator[GatewayEmulator]:
    """The gateway emulator, started once per test session on a free loopback port."""
    from cfgenai.testing import GatewayEmulator

    with GatewayEmulator(**cf_gateway_options) as gateway:
        yield gateway


@pytest.fixture
def cf_gateway(
    cf_gateway_session: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GatewayEmulator]:
    """The emulator, reset, with ``CF_AIG_BASE_URL`` and ``CF_AIG_TOKEN`` set so that
    ``cfgenai.client`` and ``build_client()`` reach it."""
    import cfgenai

    cf_gateway_session.reset()
    for name, value in cf_gateway_session.env().items():
        monkeypatch.setenv(name, value)
    cfgenai.reset_client()
    yield cf_gateway_session
    cfgenai.reset_client()
