"""Every code block of README.md and docs/ runs here, against the emulator, or says why it cannot.

How a block is read:
- a block right after an ``<!-- not run: reason -->`` comment (which readers never see) is
  skipped, for that reason;
- ``sh``: each line is a command (``uv run`` dropped: the suite already runs in that env);
- ``python``: executed; a plain block right after it is its exact output; a block defining
  ``test_`` functions runs with pytester in a throwaway project, together with the blocks of the
  same page whose first line names a file of that project (``# my_app.py``, or a ``yaml``
  block's ``# cassettes/name.yaml``, checked as a cassette where it stands);
- a plain block of ``$ command`` lines is a transcript: each command runs in bash, stderr with
  stdout, and the output must match (``...`` stands for anything; ports, ids (hex and UUIDs), fingerprints
  and milliseconds are compared by shape).
The commands and code see the emulator through CF_AIG_BASE_URL and CF_AIG_TOKEN.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest
import yaml

import cfgenai
from cfgenai.testing import GatewayEmulator
from cfgenai.testing._cassette import VERSION

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The agent frameworks' lines run in their own module, with the frameworks installed (CI).
FRAMEWORK_LINES = re.findall(
    r"# docs: [^\n]*\n(.*?)\n\s*# end docs",
    (Path(__file__).parent / "test_frameworks.py").read_text(),
    re.DOTALL,
)
BASH = shutil.which("bash") or "/bin/bash"
NOT_RUN = re.compile(r"^<!-- not run: (.+) -->$")


@dataclass
class Block:
    page: str
    line: int
    lang: str
    text: str
    not_run: str | None = None  # why, from the comment before the block
    output: str | None = None  # the plain block right after a python block

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}-{self.lang or 'text'}"


def _blocks(page: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    after_python = False
    while i < len(lines):
        fence = re.match(r"^(\s*)```(\w*)\s*$", lines[i])
        if not fence:
            if lines[i].strip():
                after_python = False
            i += 1
            continue
        indent, lang = fence.groups()
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        text = "\n".join(line[len(indent) :] for line in lines[i + 1 : end]) + "\n"
        if not lang and after_python and not text.startswith("$ "):
            blocks[-1].output = text
        else:
            why = NOT_RUN.match(lines[i - 1].strip()) if i else None
            name = str(page.relative_to(ROOT))
            blocks.append(Block(name, i + 1, lang, text, why[1] if why else None))
        after_python = lang == "python"
        i = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in _blocks(page)]
# Each page's project: its Python and YAML blocks that open with a file name (``# my_app.py``).
PROJECT_FILES: dict[str, dict[str, str]] = {}
for _block in BLOCKS:
    if _block.lang in ("python", "yaml") and (
        _named := re.match(r"# ([\w/]+\.(?:py|yaml))\n", _block.text)
    ):
        PROJECT_FILES.setdefault(_block.page, {})[_named[1]] = _block.text


def _env(gateway: GatewayEmulator) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)  # where the installed `cfgenai` script is
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", **gateway.env()}


def _shape(text: str) -> str:
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"<sha256:[0-9a-f]+(\.\.\.)?>", "<sha256:HASH>", text)
    text = re.sub(r"\b[0-9a-f]{32}\b", "HEX32", text)
    text = re.sub(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", "UUID", text)
    text = re.sub(r"\d+(\.\d+)? ms\b", "N ms", text)
    text = re.sub(r"^\(\d+ more at their defaults", "(N more at their defaults", text, flags=re.M)
    return "\n".join(" ".join(line.split()) for line in text.strip("\n").splitlines())


def _matches(expected: str, actual: str) -> bool:
    pattern = []
    for line in _shape(expected).splitlines():
        if line == "...":
            pattern.append(r"(?:[^\n]*\n)*?")
        else:
            pattern.append(".*".join(map(re.escape, line.split("..."))) + r"\n")
    return re.fullmatch("".join(pattern), _shape(actual) + "\n") is not None


def _serve(command: str, env: dict[str, str], expected: list[str]) -> str:
    """A foreground `cfgenai gateway`: on a free port, one request if the transcript logs one."""
    process = subprocess.Popen(
        [
            BASH,
            "-c",
            re.sub(r"^((?:\w+=\S+ )*)", r"\1exec ", re.sub(r"--port \d+", "--port 0", command)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with process:
        try:
            return _serving(process, command, expected)
        finally:  # a failed check must not leave it serving (`with` would wait for it forever)
            process.kill()


def _serving(process: subprocess.Popen[str], command: str, expected: list[str]) -> str:
    assert process.stdout is not None
    banner = [process.stdout.readline() for _ in range(6)]  # a comment, then five lines
    assert banner[1].startswith("export CF_AIG_BASE_URL="), banner
    assert banner[5].startswith("export CF_AIG_MODE="), banner
    base_url = banner[1].strip().split("=", 1)[1]
    token = re.search(r"CF_AIG_TOKEN=(\S+)", command)
    # One request, as the transcript logs: once answered, the server also handles SIGTERM (the
    # banner comes a moment before uvicorn takes over the signals).
    httpx2.post(
        f"{base_url}/google-ai-studio/v1/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
        headers={"cf-aig-authorization": f"Bearer {token.group(1)}"} if token else {},
    )
    process.send_signal(signal.SIGTERM)
    rest = process.stdout.read()
    process.wait(timeout=20)
    logged = [line + "\n" for line in rest.splitlines() if line.startswith("POST ")]
    return "".join(banner) + (
        "".join(logged) if any(e.startswith("POST ") for e in expected) else ""
    )


# `[VAR=value ...] cfgenai ARGS [| head -N | tail -N] [; echo "exit $?"]`: run in this process
# through the console script's own function, which saves a second of start-up per command.
_IN_PROCESS = re.compile(
    r'^((?:\w+=\S+ )*)cfgenai ((?!gateway\b).*?)(?: \| (head|tail) -(\d+))?(; echo "exit \$\?")?$'
)


def _in_process(match: re.Match[str], env: dict[str, str], *, check: bool) -> str:
    from cfgenai.cli import main

    assigns, args, cut, count, echo = match.groups()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out:
        for name, value in {**env, **dict(a.split("=", 1) for a in assigns.split())}.items():
            patch.setenv(name, value)
        err = io.StringIO()
        patch.setattr(sys, "stderr", err)
        try:
            code = main(shlex.split(args))
        except SystemExit as exited:
            code = int(exited.code or 0)
    text = err.getvalue() + out.getvalue()
    assert code == 0 or not check, text  # a command in a shell block must succeed
    if cut:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[: int(count)] if cut == "head" else lines[-int(count) :])
    return text + (f"exit {code}\n" if echo else "")


def _run(command: str, env: dict[str, str], expected: list[str] | None = None) -> str:
    command = re.sub(r"^uv run ", "", command)
    if re.search(r"\bcfgenai gateway\b", command):
        return _serve(command, env, expected or [])
    if match := _IN_PROCESS.match(command):
        return _in_process(match, env, check=expected is None)
    done = subprocess.run(
        [BASH, "-c", command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    if expected is None:
        assert done.returncode == 0, done.stdout
    return done.stdout


def _transcript(text: str) -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


# The testing page's test files run all together, as a user's project with a production .env,
# in tests/test_shared_client.py (which takes the same `# test_name.py` blocks): not again here.
RUN = [
    block
    for block in BLOCKS
    if not (block.page == "docs/testing.md" and re.match(r"# test_\w+\.py\n", block.text))
]


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_documented_block(
    block: Block,
    cf_gateway: GatewayEmulator,
    capsys: pytest.CaptureFixture[str],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CF_AIG_RETRIES", "CF_AIG_RETRY_DELAY"):  # a shell's, not those cf_gateway sets
        monkeypatch.delenv(name)
    if block.not_run:
        pytest.skip(block.not_run)
    if block.text.strip() in (textwrap.dedent(lines).strip() for lines in FRAMEWORK_LINES):
        pytest.skip("runs in tests/test_frameworks.py, with the frameworks installed")
    env = _env(cf_gateway)
    if block.lang == "yaml" and re.match(r"# [\w/]+\.yaml\n", block.text):
        # A cassette of the page's project, which the test naming it replays.
        assert yaml.safe_load(block.text)["version"] == VERSION  # the current format
    elif block.lang == "sh":
        for line in block.text.splitlines():
            if line.strip() and not line.startswith("#"):
                _run(line.split("  #")[0].strip(), env)
    elif block.lang == "python" and "def test_" in block.text:
        for name, text in PROJECT_FILES.get(block.page, {}).items():
            pytester.path.joinpath(name).parent.mkdir(parents=True, exist_ok=True)
            pytester.path.joinpath(name).write_text(text)
        named = re.match(r"# (test_\w+\.py)\n", block.text)
        if not named:
            pytester.makepyfile(test_docs_sample=block.text)
        result = pytester.runpytest_subprocess(
            named[1] if named else "test_docs_sample.py", "-p", "no:cacheprovider"
        )
        assert result.ret == 0
        assert result.parseoutcomes()["passed"] == block.text.count("\ndef test_")
    elif block.lang == "python":
        capsys.readouterr()
        exec(compile(block.text, f"{block.page}:{block.line}", "exec"), {"__name__": "__docs__"})  # noqa: S102
        out = capsys.readouterr().out
        if block.output is not None:
            assert out == block.output
    elif block.text.startswith("$ "):
        for command, expected in _transcript(block.text):
            output = _run(command, env, expected)
            assert _matches("\n".join(expected), output), f"$ {command}\n{output}"
    else:
        pytest.fail(f"{block.id}: a block that is neither run nor marked '<!-- not run: ... -->'")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_block_is_seen(page: Path) -> None:
    text = page.read_text()
    fences = sum(1 for line in text.splitlines() if re.match(r"^\s*```\w*\s*$", line))
    blocks = [b for b in BLOCKS if b.page == str(page.relative_to(ROOT))]
    outputs = sum(1 for b in blocks if b.output is not None)
    assert fences == 2 * (len(blocks) + outputs)
    # No note to the test harness where a reader sees it.
    assert "not run by the tests" not in text


def test_the_errors_page_says_what_each_gateway_code_raises(
    cf_gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = (ROOT / "docs" / "errors.md").read_text()
    rows = dict(re.findall(r"^\| (\d{4}) \| (.+) \|$", page, re.M))
    assert len(rows) >= 12
    with cfgenai.build_client() as client:
        for code, documented in rows.items():
            cf_gateway.refuse_next(int(code))
            with pytest.raises(cfgenai.GatewayError) as raised:
                client.models.generate_content(model="gemini-2.5-flash", contents="hi")
            assert (raised.value.gateway_code, raised.value.hint) == (int(code), documented)


def test_the_errors_page_gives_every_hint() -> None:
    from cfgenai._responses import HINTS

    page = (ROOT / "docs" / "errors.md").read_text()
    for key, hint in HINTS.items():
        assert f"| {key} | {hint} |" in page if isinstance(key, int) else f"| {hint} |" in page


def test_the_api_reference_shows_every_public_name(tmp_path: Path) -> None:
    import importlib

    subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--site-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    page = (tmp_path / "reference" / "index.html").read_text()
    assert "settings_customise_sources" not in page  # pydantic-settings' hook, not an API
    assert "_named(" not in page  # how a field is declared, not what it is
    for built in tmp_path.rglob("*.html"):  # a docstring's Sphinx role would show as text
        text = built.read_text()
        assert not re.search(r":(?:mod|func|class|meth|attr|data|exc):(?:`|<code)", text), (
            built.name
        )
    for module in ("cfgenai", "cfgenai.logs", "cfgenai.openai", "cfgenai.types", "cfgenai.testing"):
        for name in importlib.import_module(module).__all__:
            assert f'id="{module}.{name}"' in page, f"{module}.{name}"
