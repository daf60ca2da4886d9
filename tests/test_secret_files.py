"""Secrets as deployments hold them: in files named by {NAME}_FILE or mounted in the
CF_AIG_SECRETS_DIR folder, checked like any value and shown by doctor as their file (rotated
under a running app: test_rotation; files that are not regular files: test_special_files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cfgenai import ConfigError, GatewaySettings

from .conftest import CANARIES, TOKEN

SECRET_VARIABLES = [
    ("CF_AIG_TOKEN", "token"),
    ("GOOGLE_API_KEY", "google_api_key"),
    ("GEMINI_API_KEY", "gemini_api_key"),
    ("CF_AIG_VERTEX_ACCESS_TOKEN", "vertex_access_token"),
    ("CF_AIG_ACCESS_TOKEN", "access_token"),
    ("CF_AIG_ACCESS_CLIENT_SECRET", "access_client_secret"),
    ("CLOUDFLARE_API_TOKEN", "api_token"),
]
BASE = {"CF_AIG_BASE_URL": "http://127.0.0.1:9/v1/a/g", "CF_AIG_TOKEN": "base-gateway-token-7"}


def _environment(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("form", ["_FILE", "folder", "folder, lowercase"])
@pytest.mark.parametrize(("variable", "field"), SECRET_VARIABLES)
def test_every_secret_can_come_from_a_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, field: str, form: str
) -> None:
    _environment(monkeypatch, {k: v for k, v in BASE.items() if k != variable})
    secret = f"canary-from-a-file-{field.replace('_', '-')}"
    if form == "_FILE":
        path = tmp_path / "secret.txt"
        monkeypatch.setenv(f"{variable}_FILE", str(path))
    else:
        monkeypatch.setenv("CF_AIG_SECRETS_DIR", str(tmp_path))
        path = tmp_path / (variable.lower() if "lowercase" in form else variable)
    path.write_text(secret + "\n")  # one trailing newline, as editors write it
    if field == "access_client_secret":
        monkeypatch.setenv("CF_AIG_ACCESS_CLIENT_ID", "client.access")
    settings = GatewaySettings()
    assert getattr(settings, field).get_secret_value() == secret
    assert settings.secret_files[field] == path


def test_precedence_environment_file_folder_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, named = tmp_path / "secrets", tmp_path / "named"
    folder.mkdir()
    (folder / "CF_AIG_TOKEN").write_text("from-the-folder-token")
    named.write_text("from-the-file-token")
    Path(".env").write_text(
        "CF_AIG_BASE_URL=http://127.0.0.1:9/v1/a/g\nCF_AIG_TOKEN=from-dotenv-token\n"
    )
    assert GatewaySettings().token.get_secret_value() == "from-dotenv-token"  # type: ignore[union-attr]
    monkeypatch.setenv("CF_AIG_SECRETS_DIR", str(folder))
    assert GatewaySettings().token.get_secret_value() == "from-the-folder-token"  # type: ignore[union-attr]
    monkeypatch.setenv("CF_AIG_TOKEN_FILE", str(named))
    assert GatewaySettings().token.get_secret_value() == "from-the-file-token"  # type: ignore[union-attr]
    monkeypatch.delenv("CF_AIG_TOKEN_FILE")
    monkeypatch.setenv("CF_AIG_TOKEN", "from-the-environment-token")
    assert GatewaySettings().token.get_secret_value() == "from-the-environment-token"  # type: ignore[union-attr]
    assert GatewaySettings(token="from-an-argument-token").token.get_secret_value() == (  # type: ignore[union-attr]
        "from-an-argument-token"
    )


def _bad(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.txt"
    secret = CANARIES[0]
    contents: dict[str, bytes] = {
        "empty": b"\n",
        "large": b"x" * (64 * 1024 + 1),
        "not-utf8": secret.encode() + b"\xff\xfe",
        "nul": secret.encode() + b"\0",
        "two-lines": f"{secret}\n{secret}\n".encode(),
    }
    if kind == "folder":
        path.mkdir()
    elif kind != "missing":
        path.write_bytes(contents[kind])
    return path


BAD_FILES = {
    "missing": "does not exist; point it at the file holding the secret",
    "folder": "is a folder; point it at the file holding the secret",
    "empty": "is empty; put the secret in it",
    "large": "is larger than 64 KiB; point it at the file holding the secret",
    "not-utf8": "is not UTF-8 text; save the secret as UTF-8",
    "nul": "holds a NUL or more than one line; put the secret alone in it",
    "two-lines": "holds a NUL or more than one line; put the secret alone in it",
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_a_bad_secret_file_is_a_config_error_naming_the_variable_and_the_path(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
) -> None:
    from cfgenai.cli import main

    path = _bad(tmp_path, kind)
    _environment(
        monkeypatch, {"CF_AIG_BASE_URL": BASE["CF_AIG_BASE_URL"], "CF_AIG_TOKEN_FILE": str(path)}
    )
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert caught.value.problems[0] == f"CF_AIG_TOKEN_FILE: {path} {BAD_FILES[kind]}"
    assert main(["doctor"]) == 3
    shown = str(caught.value) + capsys.readouterr().out
    assert f"CF_AIG_TOKEN_FILE: {path} {BAD_FILES[kind]}" in shown
    for canary in CANARIES:
        assert canary not in shown


def test_a_secret_and_its_file_both_set_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "token").write_text("from-the-file-token")
    _environment(monkeypatch, {**BASE, "CF_AIG_TOKEN_FILE": str(tmp_path / "token")})
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert caught.value.problems == (
        "CF_AIG_TOKEN and CF_AIG_TOKEN_FILE: both are set; set one: CF_AIG_TOKEN_FILE names a "
        "file holding the value of CF_AIG_TOKEN",
    )


def test_a_secrets_folder_that_is_not_one_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _environment(monkeypatch, {**BASE, "CF_AIG_SECRETS_DIR": "/nonexistent/secrets"})
    with pytest.raises(
        ConfigError, match="CF_AIG_SECRETS_DIR: /nonexistent/secrets is not a folder"
    ):
        GatewaySettings()


def test_doctor_shows_a_secret_as_its_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cfgenai.cli import main

    (tmp_path / "token").write_text(TOKEN)
    _environment(
        monkeypatch,
        {"CF_AIG_BASE_URL": BASE["CF_AIG_BASE_URL"], "CF_AIG_TOKEN_FILE": str(tmp_path / "token")},
    )
    main(["doctor"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("CF_AIG_TOKEN "))
    assert row.split()[1].startswith("<sha256:") and row.endswith(f"file {tmp_path / 'token'}")
    assert TOKEN not in out
