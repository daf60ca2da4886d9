"""Files that are not regular files, where a secret or Vertex AI credentials should be: a device
never ends and a FIFO never opens, so they are refused at once, naming the variable and the
path, before a byte is read.

Each case runs in a child process with a memory limit and a timeout: were the file read to its
end, the child would run out of memory or hang, not this test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CANARIES, TOKEN

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs or /dev/zero")

# What the child does: read the settings (or build a client, which loads Vertex AI's
# credentials) from its environment, and print the problems found.
CHILD = """
import cfgenai
try:
    cfgenai.{}()
except cfgenai.ConfigError as exc:
    print("\\n".join(exc.problems))
"""
LIMIT = 512 * 1024 * 1024  # bytes of memory for the child: cfgenai needs about 100 MiB
TIMEOUT = 60  # seconds: the child takes one or two to import google-genai
BASE = {"CF_AIG_BASE_URL": "http://127.0.0.1:9/v1/a/g", "CF_AIG_ENV_FILE": ""}
VERTEX = {
    "CF_AIG_PROVIDER": "google-vertex-ai",
    "CF_AIG_VERTEX_PROJECT": "proj",
    "CF_AIG_VERTEX_LOCATION": "us-central1",
    "CF_AIG_TOKEN": TOKEN,
}
SECRET_FIX = "point it at the file holding the secret"
CREDENTIALS_FIX = "point it at a credentials JSON file, or set it to adc"


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def _problems(environment: dict[str, str], call: str = "GatewaySettings") -> list[str]:
    """The problems a child process with ``environment`` found doing ``cfgenai.{call}()``."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD.format(call)],
            env={**os.environ, **BASE, **environment},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading the settings hung for {TIMEOUT} s")
    for canary in CANARIES:
        assert canary not in done.stdout + done.stderr
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def test_a_device_as_the_token_file_is_refused_without_reading_it() -> None:
    problems = _problems({"CF_AIG_TOKEN_FILE": "/dev/zero"})
    assert problems[:1] == [
        f"CF_AIG_TOKEN_FILE: /dev/zero is a character device, not a regular file; {SECRET_FIX}"
    ]


def test_a_fifo_as_the_token_file_is_refused_without_waiting_for_a_writer(
    tmp_path: Path,
) -> None:
    fifo = _fifo(tmp_path / "token")
    problems = _problems({"CF_AIG_TOKEN_FILE": str(fifo)})
    assert problems[:1] == [
        f"CF_AIG_TOKEN_FILE: {fifo} is a FIFO (named pipe), not a regular file; {SECRET_FIX}"
    ]


def test_a_fifo_in_the_secrets_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "secrets"
    folder.mkdir()
    fifo = _fifo(folder / "CF_AIG_TOKEN")
    problems = _problems({"CF_AIG_SECRETS_DIR": str(folder)})
    assert problems[:1] == [
        f"CF_AIG_SECRETS_DIR: {fifo} is a FIFO (named pipe), not a regular file; {SECRET_FIX}"
    ]


@pytest.mark.parametrize("kind", ["device", "FIFO"])
def test_a_vertex_credentials_file_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, kind: str
) -> None:
    path = Path("/dev/zero") if kind == "device" else _fifo(tmp_path / "key.json")
    what = "a character device" if kind == "device" else "a FIFO (named pipe)"
    problems = _problems({**VERTEX, "CF_AIG_VERTEX_CREDENTIALS": str(path)}, "build_client")
    assert problems[:1] == [
        f"CF_AIG_VERTEX_CREDENTIALS: {path} is {what}, not a regular file; {CREDENTIALS_FIX}"
    ]
