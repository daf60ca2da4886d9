"""cfgenai.client and build_client(): when clients are built, and what they are built from."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pytest

import cfgenai
import cfgenai.logs
import cfgenai.openai
import cfgenai.types
from cfgenai import ConfigError, GatewaySettings
from cfgenai._client import shared_client
from cfgenai.testing import GatewayEmulator

from .conftest import ACCOUNT_ID, GOOGLE_KEY, MODEL, TOKEN


def test_public_names() -> None:
    assert cfgenai.__all__ == [
        "ConfigError",
        "GatewayError",
        "GatewayInfo",
        "GatewaySettings",
        "GatewayTimeout",
        "GatewayUnreachable",
        "OffGatewayError",
        "RedirectError",
        "aclose_client",
        "build_client",
        "client",
        "client_kwargs",
        "gateway_info",
        "request_options",
        "reset_client",
    ]
    public = [
        *(getattr(cfgenai, name) for name in cfgenai.__all__ if name != "client"),
        *(getattr(cfgenai.logs, name) for name in cfgenai.logs.__all__),
        *(getattr(cfgenai.openai, name) for name in cfgenai.openai.__all__),
        *(getattr(cfgenai.types, name) for name in cfgenai.types.__all__),
    ]
    for thing in public:
        assert not thing.__module__.split(".")[-1].startswith("_"), thing
        assert thing.__doc__, thing
        # Where it says it lives, it is (pickle and the API reference both look there).
        assert getattr(importlib.import_module(thing.__module__), thing.__name__) is thing
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = cfgenai.nope  # type: ignore[attr-defined]


def test_import_builds_nothing_reads_nothing_and_needs_no_configuration(tmp_path: Path) -> None:
    Path(".env").write_text("CF_AIG_TIMEOUT=not-a-number\n")
    code = (
        "import sys, cfgenai\n"
        "assert 'google.genai' not in sys.modules, 'google-genai imported at import time'\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


def test_client_reads_dotenv(gateway: GatewayEmulator) -> None:
    Path(".env").write_text("".join(f"{name}={value}\n" for name, value in gateway.env().items()))
    assert cfgenai.client.models.generate_content(model=MODEL, contents="hi").text
    assert gateway.last_request.header("cf-aig-authorization") == f"Bearer {TOKEN}"


def test_reset_client_rereads_the_environment(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = shared_client()
    cfgenai.reset_client()
    monkeypatch.setenv("CF_AIG_API_VERSION", "v1beta")
    second = shared_client()
    assert second is not first
    cfgenai.client.models.generate_content(model=MODEL, contents="hi")
    assert "/v1beta/" in gateway_env.last_request.path


def test_build_client_gives_a_fresh_client_each_call(gateway_env: GatewayEmulator) -> None:
    assert cfgenai.build_client() is not cfgenai.build_client()


def test_build_client_overrides_win_over_the_environment(gateway: GatewayEmulator) -> None:
    with GatewayEmulator(token=TOKEN, stored_keys={"default": "k"}, gateway_id="prod") as prod:
        base = prod.url + "/v1/acc"
        settings = GatewaySettings(base_url=base + "/gw", token=TOKEN)
        client = cfgenai.build_client(settings, base_url=base + "/prod")
        client.models.generate_content(model=MODEL, contents="hi")
        assert prod.last_request.path.startswith("/v1/acc/prod/google-ai-studio/")
    assert settings.base_url == base + "/gw"  # the settings object is left as it was


def test_build_client_reports_bad_overrides_with_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN)
    with pytest.raises(ConfigError) as caught:
        cfgenai.build_client(settings, gateway_id="a b", retries=-1)
    assert [p.split(" ")[0].rstrip(":") for p in caught.value.problems] == [
        "CF_AIG_GATEWAY_ID",
        "CF_AIG_RETRIES",
    ]


@pytest.mark.parametrize(("mode", "refused"), [("byok", True), ("key", False)])
def test_an_aiohttp_without_middlewares_is_refused_where_a_header_must_be_dropped(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch, mode: str, refused: bool
) -> None:
    aiohttp = pytest.importorskip("aiohttp")
    old = types.ModuleType("aiohttp")  # as aiohttp was before 3.12: no client middlewares
    vars(old).update({k: v for k, v in vars(aiohttp).items() if k != "ClientMiddlewareType"})
    monkeypatch.setitem(sys.modules, "aiohttp", old)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    monkeypatch.setenv("CF_AIG_MODE", mode)
    if not refused:
        cfgenai.client_kwargs()
        return
    with pytest.raises(ConfigError) as caught:
        cfgenai.client_kwargs()
    assert caught.value.problems[0].endswith("pip install 'aiohttp>=3.12'")


def test_clients_share_no_mutable_options(gateway_env: GatewayEmulator) -> None:
    settings = GatewaySettings()
    first, second = (cfgenai.client_kwargs(settings)["http_options"] for _ in range(2))
    assert first is not second
    assert first.headers is not second.headers
    assert first.base_url == f"{settings.gateway_root}/google-ai-studio"


def test_default_base_url_is_cloudflares() -> None:
    settings = GatewaySettings(account_id=ACCOUNT_ID, gateway_id="my-gw", token=TOKEN)
    options = cfgenai.client_kwargs(settings)["http_options"]
    assert (
        options.base_url
        == f"https://gateway.ai.cloudflare.com/v1/{ACCOUNT_ID}/my-gw/google-ai-studio"
    )
    assert options.api_version == "v1"


def test_a_client_used_only_in_a_chained_expression_works(gateway_env: GatewayEmulator) -> None:
    # With a bare genai.Client this fails: the Client is collected mid-call and closes the
    # transport its `models` still uses.
    for _ in range(3):
        assert cfgenai.build_client().models.generate_content(model=MODEL, contents="hi").text
        chunks = cfgenai.build_client().models.generate_content_stream(model=MODEL, contents="hi")
        assert "".join(c.text or "" for c in chunks)
    assert len(gateway_env.requests) == 6
