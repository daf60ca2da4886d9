"""Fixtures: a clean environment for every test, and one gateway emulator per session."""

from __future__ import annotations

import functools
import gc
import importlib
import os
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google import genai
from google.genai import _api_client

import cfgenai
from cfgenai import GatewaySettings, _compat
from cfgenai.testing import GatewayEmulator

# Canary secrets: recognisable, so any output that contains one is a leak.
TOKEN = "canary-cf-token-7f3a9c1e5b2d4f60"
GOOGLE_KEY = "canary-google-key-1d4e8b2a9c7f3e55"
STORED_KEY = "canary-stored-key-6b0e2f9d4a1c8e77"
TEAM_KEY = "canary-team-key-93c1d7e0b5a2f4c8"  # stored under the BYOK alias "team"
VERTEX_TOKEN = "canary-vertex-token-4e9a1c7b2d0f"  # a Google access token for Vertex AI
API_TOKEN = "canary-cf-api-token-2c8e5a1f9b3d7e04"  # a Cloudflare API token, for the logs API
CANARIES = (TOKEN, GOOGLE_KEY, STORED_KEY, TEAM_KEY, VERTEX_TOKEN, API_TOKEN)
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
MODEL = "gemini-2.5-flash"
LIVE_MODEL = "gemini-live-2.5-flash-preview"  # the Live API takes only its own models
# google-genai 3.x sends async requests with aiohttp when it is installed; on 2.x cfgenai hands it
# an httpx transport with one pool per event loop (_transport.LoopPools), which its aiohttp
# session cannot be.
ASYNC_OVER_AIOHTTP = _compat.async_over_aiohttp()
needs_aiohttp_async = pytest.mark.skipif(
    not ASYNC_OVER_AIOHTTP, reason="google-genai 2.x: cfgenai sends async requests with httpx"
)
# A log id as the gateway gives it now: a lowercase UUIDv7.
UUID7 = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

pytest_plugins = ["pytester"]

# pytester's in-process runs drop every module first imported inside them. httpx(2) imports its
# transport, httpcore(2), on the first client built: were that inside such a run, the next client
# would get a second copy, whose exceptions httpx no longer maps to its own.
importlib.import_module(_compat.http_backend().replace("httpx", "httpcore"))

# google-genai's own retry backoff, read before `_fast_backoff` shortens it for the tests.
REAL_BACKOFF = (
    _api_client._RETRY_INITIAL_DELAY,
    float(_api_client._RETRY_EXP_BASE),
    _api_client._RETRY_MAX_DELAY,
    float(_api_client._RETRY_JITTER),
)

_OURS = ("CF_AIG_", "CLOUDFLARE_", "GOOGLE_", "GEMINI_")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No variable or .env of the developer's reaches a test; the shared client starts unbuilt."""
    for name in list(os.environ):
        if name.startswith(_OURS):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    cfgenai.reset_client()
    yield
    cfgenai.reset_client()


@pytest.fixture(scope="session")
def cf_gateway_options() -> dict[str, Any]:
    """The plugin's emulator, with canary credentials."""
    return {
        "token": TOKEN,
        "google_keys": [GOOGLE_KEY, VERTEX_TOKEN],
        "stored_keys": {"default": STORED_KEY, "team": TEAM_KEY},
        "api_token": API_TOKEN,
    }


@pytest.fixture
def gateway(cf_gateway_session: GatewayEmulator) -> GatewayEmulator:
    """The plugin's emulator, reset, with nothing set in the environment."""
    cf_gateway_session.reset()
    return cf_gateway_session


@pytest.fixture
def gateway_env(cf_gateway: GatewayEmulator) -> GatewayEmulator:
    """The plugin's ``cf_gateway``: reset, and CF_AIG_BASE_URL and CF_AIG_TOKEN set."""
    return cf_gateway


def pytest_report_header() -> str:
    """Which cfgenai is under test: the checkout through an editable install, or a wheel's."""
    return f"cfgenai {cfgenai.__version__} from {os.path.dirname(cfgenai.__file__)}"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than cores, as many tests wait on a subprocess or a socket
    (on 2 cores, the suite takes about 80 s with 3 workers, against 95 to 110 s with 2)."""
    return (os.cpu_count() or 1) + 1


def pytest_collection_finish(session: pytest.Session) -> None:
    """Put everything imported so far out of the collector's reach.

    Modules, pydantic models and google-genai's types live until the end anyway; frozen, they
    turn the collection after each test from about 150 ms into microseconds.
    """
    gc.freeze()


@pytest.fixture(autouse=True)
def _collect_garbage() -> Iterator[None]:
    """Collect after each test, so a transport left unclosed warns in the test that left it;
    then freeze what survived (modules and caches a test imported or filled), so that the next
    collection walks only what the next test makes."""
    yield
    gc.collect()
    gc.freeze()


@functools.lru_cache(maxsize=8)
def _shared_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=cafile, capath=capath)


def _one_context_per_ca_store(
    purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH,
    *,
    cafile: str | None = None,
    capath: str | None = None,
    cadata: str | bytes | None = None,
) -> ssl.SSLContext:
    """``ssl.create_default_context`` for google-genai: one context per CA store per worker."""
    if purpose is not ssl.Purpose.SERVER_AUTH or cadata is not None:
        return ssl.create_default_context(purpose, cafile=cafile, capath=capath, cadata=cadata)
    return _shared_context(cafile, capath)


@pytest.fixture(autouse=True, scope="session")
def _genai_ca_stores_read_once() -> Iterator[None]:
    """google-genai's own TLS contexts read each CA store once per test worker.

    A client google-genai builds without cfgenai's shared contexts (a bare client, Vertex AI,
    ``client_kwargs()``) makes up to three contexts, each reading the whole CA bundle: about
    50 ms per context, over a minute of the suite. Here it gets one context per CA store,
    made by the real ``ssl.create_default_context``, so a TLS connection verifies exactly as
    before. Only google-genai's module sees the change; no test of the suite loads a client
    certificate into a context (mTLS), which would change a shared one.
    """
    shared = ModuleType("ssl")
    shared.__dict__.update(vars(ssl))
    shared.create_default_context = _one_context_per_ca_store  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_api_client, "ssl", shared)
        yield


@pytest.fixture(autouse=True)
def _fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """google-genai's retry backoff (1 s, 2 s, ... plus up to 1 s of jitter) cut to 1 ms.

    Retries still happen exactly as configured; only the wait between them shrinks. The
    defaults are read when a client is built, so this covers every client a test builds.
    `test_commands` pins the real values, which `cfgenai doctor` reports.
    """
    monkeypatch.setattr(_api_client, "_RETRY_INITIAL_DELAY", 0.001)
    monkeypatch.setattr(_api_client, "_RETRY_JITTER", 0)


Build = Callable[..., genai.Client]


@pytest.fixture
def build() -> Iterator[Build]:
    """``cfgenai.build_client``, closing every client it made when the test ends.

    A test that keeps an exception keeps its traceback's clients alive until the garbage
    collector breaks the cycle, in no set order: closing them first keeps that tidy.
    """
    clients: list[genai.Client] = []

    def make(settings: GatewaySettings | None = None, **overrides: Any) -> genai.Client:
        clients.append(cfgenai.build_client(settings, **overrides))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def sdk_http() -> ModuleType:
    """httpx or httpx2: the library google-genai sends with here, whose errors it raises."""
    return _compat.httpx_module()
