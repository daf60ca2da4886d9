"""`from cfgenai import client` as users meet it: imported at the top of an app module, sent to
the emulator by the pytest plugin, closed, forked, and answered with a redirect."""

from __future__ import annotations

import asyncio
import http.server
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google import genai

import cfgenai
import cfgenai.openai
from cfgenai import ConfigError, RedirectError, _client
from cfgenai._client import shared_client
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, STORED_KEY, TOKEN, Build

TESTING_PAGE = Path(__file__).parent.parent / "docs" / "testing.md"


def _ask(client: genai.Client, prompt: str = "hi") -> str:
    return client.models.generate_content(model=MODEL, contents=prompt).text or ""


def _run(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- a lazy proxy ------------------------------------------------------------------------------


def test_importing_client_builds_nothing_and_reads_nothing(tmp_path: Path) -> None:
    Path(".env").write_text("CF_AIG_TIMEOUT=not-a-number\n")
    done = _run(
        """
        from cfgenai import client
        from google import genai
        import cfgenai
        print(isinstance(client, genai.Client), repr(client))
        try:
            client.models
        except cfgenai.ConfigError as error:
            print("first use:", error.problems[0].split(":")[0])
        """,
        {k: v for k, v in os.environ.items() if not k.startswith(("CF_AIG_", "GOOGLE_"))},
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "True <cfgenai.client: the shared genai.Client, not built yet>",
        "first use: CF_AIG_TIMEOUT",
    ]


def test_every_reference_follows_reset_client(
    gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgenai import client as imported_early  # as `my_app.client` would be

    with GatewayEmulator(token=TOKEN, stored_keys={"default": STORED_KEY}) as production:
        for name, value in production.env().items():
            monkeypatch.setenv(name, value)
        _ask(imported_early)
        for name, value in gateway.env().items():
            monkeypatch.setenv(name, value)
        cfgenai.reset_client()
        _ask(imported_early)
        assert len(production.requests) == 1
    assert len(gateway.requests) == 1


def test_the_proxy_is_a_genai_client_and_shared_client_is_the_real_one(
    gateway_env: GatewayEmulator,
) -> None:
    proxy = cfgenai.client
    assert isinstance(proxy, genai.Client)
    assert "not built yet" in repr(proxy)
    real = shared_client()
    assert real is not proxy
    assert real is shared_client()
    assert type(real) is not type(proxy)
    assert proxy.models is real.models
    assert proxy.aio is real.aio
    assert "models" in dir(proxy)
    assert repr(proxy).startswith("<cfgenai.client: the shared genai.Client, now <cfgenai.")
    with pytest.raises(AttributeError):
        _ = proxy.no_such_attribute  # type: ignore[attr-defined]
    assert gateway_env.requests == []


def test_the_shared_client_is_built_once_under_concurrent_first_use(
    gateway_env: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cfgenai import _client

    builds: list[genai.Client] = []
    real_build = _client.build_client

    def slow_build(*args: Any) -> genai.Client:
        threading.Event().wait(0.05)  # widen the window in which a second thread could build
        builds.append(real_build(*args))
        return builds[-1]

    monkeypatch.setattr(_client, "build_client", slow_build)
    cfgenai.reset_client()  # and no spare from an earlier test: built here
    start = threading.Barrier(8)
    seen: list[object] = []

    def use() -> None:
        start.wait()
        seen.append(cfgenai.client.models)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert seen == [builds[0].models] * 8


def test_the_proxy_raises_config_error_until_configured(
    gateway: GatewayEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="CF_AIG_ACCOUNT_ID"):
        _ = cfgenai.client.models
    for name, value in gateway.env().items():
        monkeypatch.setenv(name, value)
    assert _ask(cfgenai.client) == f"Echo from {MODEL}: hi"


def test_the_proxy_as_a_context_manager_closes_and_is_replaced(
    gateway_env: GatewayEmulator,
) -> None:
    with cfgenai.client as client:
        first = shared_client()
        _ask(client)
    assert _ask(cfgenai.client)
    assert shared_client() is not first


# -- closed clients ----------------------------------------------------------------------------


def test_a_closed_shared_client_is_replaced(gateway_env: GatewayEmulator) -> None:
    first = shared_client()
    _ask(cfgenai.client)
    cfgenai.client.close()
    assert _ask(cfgenai.client) == f"Echo from {MODEL}: hi"
    second = shared_client()
    assert second is not first

    async def close_then_ask() -> str:
        await cfgenai.client.aio.aclose()
        answer = await cfgenai.client.aio.models.generate_content(model=MODEL, contents="again")
        await cfgenai.aclose_client()
        return answer.text or ""

    assert asyncio.run(close_then_ask()) == f"Echo from {MODEL}: again"
    assert shared_client() is not second
    # Let go when its async side closed, so its sync side (one idle connection) closed too.
    with pytest.raises(RuntimeError, match="client has been closed"):
        _ask(second)
    assert len(gateway_env.requests) == 3


def test_a_closed_shared_client_is_replaced_on_async_httpx(gateway: GatewayEmulator) -> None:
    # google-genai sends async requests with httpx when aiohttp cannot be imported.
    done = _run(
        """
        import sys
        sys.modules["aiohttp"] = None
        import asyncio
        from cfgenai import client

        async def serve(prompt):
            answer = await client.aio.models.generate_content(model=sys.argv[1], contents=prompt)
            await client.aio.aclose()  # an app's shutdown
            return answer.text

        print(asyncio.run(serve("one")))
        print(asyncio.run(serve("two")))  # the same process starts serving again
        """,
        {**os.environ, **gateway.env()},
        MODEL,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"Echo from {MODEL}: one", f"Echo from {MODEL}: two"]


def test_aclose_client_without_configuration_builds_nothing() -> None:
    asyncio.run(cfgenai.aclose_client())
    assert "not built yet" in repr(cfgenai.client)


# -- fork --------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_and_its_parent_each_get_only_their_own_answers(
    gateway_env: GatewayEmulator,
) -> None:
    _ask(cfgenai.client, "warm-up")  # the parent now holds a pooled keep-alive connection
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            os.read(go_read, 1)
            answers = [_ask(cfgenai.client, f"child {i}") for i in range(20)]
            code = 0 if answers == [f"Echo from {MODEL}: child {i}" for i in range(20)] else 2
        finally:
            os._exit(code)
    os.write(go_write, b"x")  # both start together
    answers = [_ask(cfgenai.client, f"parent {i}") for i in range(20)]
    _, status = os.waitpid(pid, 0)
    os.close(go_read)
    os.close(go_write)
    assert answers == [f"Echo from {MODEL}: parent {i}" for i in range(20)]
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(gateway_env.requests) == 41
    assert gateway_env.connections == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_never_takes_the_spare_its_parent_kept(gateway_env: GatewayEmulator) -> None:
    _ask(cfgenai.client, "warm-up")
    spare = _client.swap(None)  # kept between tests, as cf_gateway keeps the last test's client
    _client.swap(spare)
    assert spare is not None
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 3
        try:
            answer = _ask(cfgenai.client, "child")  # on a client and connection of its own
            own = _client.shared_client() is not spare[0]
            code = 0 if own and answer == f"Echo from {MODEL}: child" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _client.shared_client() is spare[0]  # the parent's is still there for it
    assert gateway_env.connections == 2


# -- redirects ---------------------------------------------------------------------------------


class _Redirect(http.server.BaseHTTPRequestHandler):
    """Answers everything with the server's ``status``, pointing at ``target`` + the path."""

    server: _RedirectServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.do_GET()

    def do_GET(self) -> None:
        self.send_response(self.server.status)
        self.send_header("location", self.server.target + self.path)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _RedirectServer(http.server.ThreadingHTTPServer):
    status = 302
    target = ""


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[GatewayEmulator]:
    """Where the redirects point: a second server on another loopback address."""
    with GatewayEmulator(
        host="127.0.0.2",
        token=TOKEN,
        google_keys=[GOOGLE_KEY],
        stored_keys={"default": STORED_KEY},
    ) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def redirector(elsewhere: GatewayEmulator) -> Iterator[_RedirectServer]:
    server = _RedirectServer(("127.0.0.1", 0), _Redirect)
    server.target = elsewhere.url
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _redirect_settings(redirector: _RedirectServer, mode: str) -> dict[str, str]:
    settings = {
        "base_url": f"http://127.0.0.1:{redirector.server_address[1]}/v1/acc/gw",
        "token": TOKEN,
        "mode": mode,
    }
    if mode == "key":
        settings["google_api_key"] = GOOGLE_KEY
    return settings


async def _ask_async(client: genai.Client, stream: bool) -> None:
    if stream:
        chunks = await client.aio.models.generate_content_stream(model=MODEL, contents="hi")
        [c async for c in chunks]
    else:
        await client.aio.models.generate_content(model=MODEL, contents="hi")


_CALLS = {
    "sync": lambda c: _ask(c),
    "sync stream": lambda c: list(c.models.generate_content_stream(model=MODEL, contents="hi")),
    "async": lambda c: asyncio.run(_ask_async(c, stream=False)),
    "async stream": lambda c: asyncio.run(_ask_async(c, stream=True)),
}
# (GOOGLE_GENAI_HTTP_CLIENT, call): sync calls on httpx2 and httpx (those installed: google-genai
# 3.x needs only httpx2), async ones on aiohttp.
_BACKENDS = [name for name in ("httpx2", "httpx") if importlib.util.find_spec(name)]
_TRANSPORTS = [
    *((backend, call) for backend in _BACKENDS for call in ("sync", "sync stream")),
    ("", "async"),
    ("", "async stream"),
]


@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize(("backend", "call"), _TRANSPORTS)
def test_a_redirect_is_refused_and_its_target_receives_nothing(
    redirector: _RedirectServer,
    elsewhere: GatewayEmulator,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    status: int,
    mode: str,
    backend: str,
    call: str,
) -> None:
    monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", backend)
    redirector.status = status
    elsewhere.reset()
    client = build(**_redirect_settings(redirector, mode), retries=0)
    with pytest.raises(RedirectError) as caught:
        _CALLS[call](client)
    assert caught.value.code == status
    assert str(caught.value) == (
        f"{status} http://127.0.0.1:{redirector.server_address[1]} answered with a redirect to "
        f"{elsewhere.url}; cfgenai does not follow redirects, so nothing was sent there: "
        "check CF_AIG_BASE_URL (it must be the gateway's own URL)"
    )
    assert elsewhere.requests == []


def test_a_redirect_is_refused_on_async_httpx(
    redirector: _RedirectServer, elsewhere: GatewayEmulator
) -> None:
    redirector.status = 307
    elsewhere.reset()
    done = _run(
        """
        import sys
        sys.modules["aiohttp"] = None
        import asyncio, json, cfgenai

        async def ask(settings, stream):
            client = cfgenai.build_client(**settings, retries=0)
            try:
                if stream:
                    chunks = await client.aio.models.generate_content_stream(model="gemini-2.5-flash", contents="hi")
                    [c async for c in chunks]
                else:
                    await client.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
            except cfgenai.RedirectError as error:
                return error.code
            return "followed"

        for settings in json.loads(sys.argv[1]):
            for stream in (False, True):
                print(asyncio.run(ask(settings, stream)))
        """,
        dict(os.environ),
        repr([_redirect_settings(redirector, mode) for mode in ("key", "byok")]).replace("'", '"'),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["307"] * 4
    assert elsewhere.requests == []
    assert not any(canary in done.stdout + done.stderr for canary in CANARIES)


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_the_openai_compat_client_follows_no_redirect_either(
    redirector: _RedirectServer, elsewhere: GatewayEmulator, mode: str
) -> None:
    import openai

    redirector.status = 307
    elsewhere.reset()
    settings = _redirect_settings(redirector, mode)
    messages = [{"role": "user", "content": "hi"}]
    with cfgenai.openai.openai_client(**settings, retries=0) as compat:
        with pytest.raises(openai.APIStatusError) as caught:
            compat.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]
        assert caught.value.status_code == 307

    async def ask_async() -> None:
        async with cfgenai.openai.async_openai_client(**settings, retries=0) as compat:
            await compat.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]

    with pytest.raises(openai.APIStatusError):
        asyncio.run(ask_async())
    assert elsewhere.requests == []


# -- the testing page's pytest sample in a user's project -------------------------------------------

# Real-looking credentials of a developer's "production" gateway, in the shell and in .env.
_PRODUCTION_TOKEN = "fJ3kQ9zX2mB7vN4pL8wR1tY6uH0cE5aD-prodtoken"
_PRODUCTION_KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"
_PRODUCTION_ACCESS_SECRET = "3f1c9a7e5b2d8046a1c3e5f7b9d0a2c4e6f8a0b2c4d6e8f0a1b3c5d7e9f1a3b5"
_SECRETS = (_PRODUCTION_TOKEN, _PRODUCTION_KEY, _PRODUCTION_ACCESS_SECRET)

# Checks the testing page's sample cannot make on its own: the emulator saw no production secret.
_NO_SECRET_SEEN = f"""
import pytest

@pytest.fixture(autouse=True)
def _no_production_secret_reaches_the_emulator(request):
    yield
    if "cf_gateway" in request.fixturenames:
        journal = request.getfixturevalue("cf_gateway_session")
        seen = repr([(r.path, r.query, r.headers, r.body) for r in journal.requests])
        seen += repr([(r.headers, r.body) for r in journal.upstream_requests])
        assert not any(secret in seen for secret in {_SECRETS!r})
        assert journal.requests, "the test reached the emulator"
"""


def _documented_files() -> dict[str, str]:
    """The testing page's Python (and TOML) blocks that open with a ``# file`` line, by name."""
    found = r"```(?:python|toml)\n# (\w+\.(?:py|toml))\n(.*?)```"
    blocks = re.findall(found, TESTING_PAGE.read_text(), re.DOTALL)
    return {name: f"# {name}\n{body}" for name, body in blocks}


def test_the_documented_pytest_sample_runs_as_printed_in_a_users_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = _documented_files()
    assert set(files) == {
        "my_app.py",
        "test_my_app.py",
        "docs_app.py",
        "test_docs_app.py",
        "test_models_sample.py",
        "test_guard_sample.py",
        "test_faults_sample.py",
        "test_answers_sample.py",
        "pyproject.toml",
    }
    with GatewayEmulator(token=_PRODUCTION_TOKEN, google_keys=[_PRODUCTION_KEY]) as production:
        for name, text in files.items():
            pytester.path.joinpath(name).write_text(text)
        pytester.makeconftest(_NO_SECRET_SEEN)
        pytester.path.joinpath(".env").write_text(
            f"CF_AIG_BASE_URL={production.base_url}\n"
            f"CF_AIG_TOKEN={_PRODUCTION_TOKEN}\n"
            f"GOOGLE_API_KEY={_PRODUCTION_KEY}\n"
            "CF_AIG_ACCESS_CLIENT_ID=prod-client.access\n"
            f"CF_AIG_ACCESS_CLIENT_SECRET={_PRODUCTION_ACCESS_SECRET}\n"
        )
        monkeypatch.setenv("CF_AIG_BASE_URL", production.base_url)
        monkeypatch.setenv("CF_AIG_TOKEN", _PRODUCTION_TOKEN)
        monkeypatch.setenv("GOOGLE_API_KEY", _PRODUCTION_KEY)
        monkeypatch.setenv("CF_AIG_MODE", "key")
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
        assert production.requests == []
    result.assert_outcomes(passed=15)
    output = "\n".join(result.outlines + result.errlines)
    assert not any(secret in output for secret in _SECRETS)


# -- tests in one environment share a client --------------------------------------------------

_ONE_CLIENT_PER_ENVIRONMENT = """
import asyncio
import pytest
from cfgenai import client
from cfgenai._client import shared_client

MODEL = "gemini-2.5-flash"
seen = []
loop = asyncio.new_event_loop()  # one loop for several tests, as a session-scoped loop is


async def ask_async():
    return (await client.aio.models.generate_content(model=MODEL, contents="hi")).text


@pytest.mark.parametrize("call", ["sync", "stream", "async", "same loop", "same loop again"])
def test_the_same_environment(cf_gateway, call):
    if call == "sync":
        assert client.models.generate_content(model=MODEL, contents="hi").text
    elif call == "stream":
        assert list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    elif call == "async":
        assert asyncio.run(ask_async())
    else:
        assert loop.run_until_complete(ask_async())
    seen.append(shared_client())
    assert cf_gateway.connections == 1  # the one the last test left open, or a new one


@pytest.mark.parametrize("run", [1, 2])
def test_warnings_come_with_every_test(cf_gateway, monkeypatch, run):
    monkeypatch.setenv("CF_AIG_GATEWAY", "typo")
    with pytest.warns(UserWarning, match="CF_AIG_GATEWAY"):
        client.models.generate_content(model=MODEL, contents="hi")
    seen.append(shared_client())


def test_key_mode(cf_gateway, monkeypatch):
    monkeypatch.setenv("CF_AIG_MODE", "key")
    monkeypatch.setenv("GOOGLE_API_KEY", "test-google-key")
    client.models.generate_content(model=MODEL, contents="hi")
    assert cf_gateway.last_request.header("x-goog-api-key") == "test-google-key"
    seen.append(shared_client())


def test_key_mode_for_a_while(cf_gateway, monkeypatch):
    with monkeypatch.context() as patched:  # the client is built in it, then it is undone
        patched.setenv("CF_AIG_MODE", "key")
        patched.setenv("GOOGLE_API_KEY", "test-google-key")
        client.models.generate_content(model=MODEL, contents="hi")
    seen.append(shared_client())


def test_byok_again(cf_gateway):
    client.models.generate_content(model=MODEL, contents="hi")
    assert cf_gateway.last_request.header("x-goog-api-key") is None
    seen.append(shared_client())


def test_a_closed_client(cf_gateway):
    shared_client().close()
    client.models.generate_content(model=MODEL, contents="hi")
    seen.append(shared_client())


def test_tests_in_the_fixtures_environment_share_one_client_and_no_other():
    same, own = seen[:5], seen[5:]  # the key mode ones are not passed on: byok_again builds one
    assert len({id(c) for c in same}) == 1
    assert len({id(c) for c in own} | {id(same[0])}) == len(own) + 1 == 7
"""


@pytest.mark.parametrize("aiohttp", ["with aiohttp", "without aiohttp"])
def test_tests_in_one_environment_share_a_client_never_a_connection(
    pytester: pytest.Pytester, aiohttp: str
) -> None:
    pytester.makepyfile(test_app=_ONE_CLIENT_PER_ENVIRONMENT)
    if aiohttp == "without aiohttp":  # google-genai then sends async requests with httpx
        pytester.makeconftest("import sys\nsys.modules['aiohttp'] = None\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)


def test_what_an_app_cached_from_the_shared_client_works_in_every_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        app="""
        import functools

        from cfgenai import client

        @functools.cache
        def models():  # an app's own cache of a service, across tests
            return client.models

        def ask(text):
            return models().generate_content(model="gemini-2.5-flash", contents=text).text
        """,
        test_app="""
        import app

        def test_first(cf_gateway):
            assert app.ask("hi")

        def test_second(cf_gateway):
            assert app.ask("again")
        """,
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
