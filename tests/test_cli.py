"""The cfgenai command."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

import cfgenai
from cfgenai.cli import main
from cfgenai.testing._emulator import DEFAULT_STORED_KEY


def test_demo_shows_both_modes_with_secrets_masked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    key_part, byok_part = out.split("== byok mode")
    assert key_part.count("x-goog-api-key: <sha256:") == 2
    assert byok_part.count("x-goog-api-key: (absent)") == 2
    assert out.count("cf-aig-authorization: Bearer <sha256:") == 4
    assert out.count("gateway answered: Echo from gemini-2.5-flash: What is Cloudflare?") == 4
    assert out.count(":streamGenerateContent?alt=sse") == 2
    for secret in ("demo-gateway-token", "demo-google-key", DEFAULT_STORED_KEY):  # the demo's
        assert secret not in out


def test_demo_as_a_module_with_its_own_prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["cfgenai", "demo", "--prompt", "Hello gateway", "--model", "gemini-2.0-flash"]
    monkeypatch.setattr(sys, "argv", argv)
    main_module = Path(cfgenai.__file__).parent / "__main__.py"
    with pytest.raises(SystemExit) as exited:  # what `python -m cfgenai demo ...` runs
        runpy.run_path(str(main_module), run_name="__main__")
    assert exited.value.code == 0
    assert (
        capsys.readouterr().out.count("gateway answered: Echo from gemini-2.0-flash: Hello gateway")
        == 4
    )


def test_bad_configuration_exits_3_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CF_AIG_TIMEOUT", "soon")
    assert main(["demo"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("cfgenai: cfgenai configuration has 1 problem:\n  - CF_AIG_TIMEOUT:")
    assert "Traceback" not in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"cfgenai {cfgenai.__version__}\n"
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "demo" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["feedback", "x", "--score", "101"],
            "argument --score: '101' is not a score from 0 to 100",
        ),
        (
            ["feedback", "x", "--score", "nan"],
            "argument --score: 'nan' is not a score from 0 to 100",
        ),
        (["feedback", "x", "--good", "--bad"], "argument --bad: not allowed with argument --good"),
        (
            ["gateway", "--journal-size", "0"],
            "argument --journal-size: '0' is not a positive whole",
        ),
        (["env", "--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
    ],
)
def test_bad_arguments_are_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], error: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert error in capsys.readouterr().err
