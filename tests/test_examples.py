"""The scripts in examples/ run unchanged against the emulator, configured only by environment."""

from __future__ import annotations

import asyncio
import re
import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

from cfgenai.testing import GatewayEmulator

from .conftest import MODEL, UUID7, sdk_http

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "calls", "expected"),
    [
        ("sync_example.py", [":generateContent"], [f"Echo from {MODEL}: What is Cloudflare?"]),
        (
            "streaming_example.py",
            [":streamGenerateContent"],
            [f"Echo from {MODEL}: Explain AI Gateway caching in three sentences."],
        ),
        (
            "async_example.py",
            [":generateContent"] * 3 + [":streamGenerateContent"],
            [
                f"Echo from {MODEL}: What is Cloudflare?",
                f"Echo from {MODEL}: What is an AI gateway?",
                f"Echo from {MODEL}: What is BYOK?",
                f"Echo from {MODEL}: Stream this answer.",
            ],
        ),
    ],
)
def test_example_runs_against_the_emulator(
    gateway: GatewayEmulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    script: str,
    calls: list[str],
    expected: list[str],
) -> None:
    for name, value in gateway.env().items():
        monkeypatch.setenv(name, value)
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")  # as `python script` runs it
    assert capsys.readouterr().out.splitlines() == expected
    assert sorted(r.path.rsplit(MODEL, 1)[1] for r in gateway.requests) == sorted(calls)
    assert all("x-goog-api-key" not in r.headers for r in gateway.requests)


def _webapp() -> Any:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from webapp import app
    finally:
        sys.path.remove(str(EXAMPLES))
    return app


async def _serve(app: Any, *paths: str) -> list[dict[str, object]]:
    """One run of the app, lifespan included: GET each path, then shut down."""
    transport = sdk_http().ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        sdk_http().AsyncClient(transport=transport, base_url="http://app") as client,
    ):
        return [(await client.get(path)).json() for path in paths]


def test_webapp_serves_sync_and_async_answers_across_restarts(cf_gateway: GatewayEmulator) -> None:
    app = _webapp()
    for run in ("first", "second"):  # the shutdown closes the shared client; it comes back
        sync_answer, async_answer = asyncio.run(
            _serve(app, f"/ask?q=sync+{run}", f"/ask-async?q=async+{run}")
        )
        assert sync_answer == {"answer": f"Echo from {MODEL}: sync {run}", "cache": None}
        assert async_answer["answer"] == f"Echo from {MODEL}: async {run}"
        assert re.fullmatch(UUID7, str(async_answer["log_id"]))
    assert [r.json["contents"][0]["parts"][0]["text"] for r in cf_gateway.requests] == [
        "sync first",
        "async first",
        "sync second",
        "async second",
    ]


def test_webapp_starts_and_stops_without_configuration() -> None:
    assert asyncio.run(_serve(_webapp())) == []
