"""The scripts in examples/ run unchanged against the emulator, configured only by environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cfgenai.testing import GatewayEmulator

from .conftest import MODEL

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
    gateway: GatewayEmulator, script: str, calls: list[str], expected: list[str]
) -> None:
    env = {**os.environ, **gateway.env()}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected
    assert sorted(r.path.rsplit(MODEL, 1)[1] for r in gateway.requests) == sorted(calls)
    assert all("x-goog-api-key" not in r.headers for r in gateway.requests)
