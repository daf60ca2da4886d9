"""Hostile and malformed input over real sockets on 127.0.0.1: every case gets a clear answer
in the gateway's (or Google's) error shape, or a closed connection, never a 500 or a hang.

Each case sends a bounded number of bytes and waits at most a few seconds; the emulator's
deadlines are set short here so that no test sleeps for long.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from cfgenai import ConfigError
from cfgenai.cli import main
from cfgenai.testing import GatewayEmulator
from cfgenai.testing._emulator import DEFAULT_STORED_KEY
from cfgenai.testing._protocol import MAX_HEAD

from .conftest import API_TOKEN, TOKEN

GEMINI = "/v1/acc/gw/google-ai-studio/v1beta/models/gemini-2.5-flash:generateContent"
AUTH = f"cf-aig-authorization: Bearer {TOKEN}"
SECRET = "canary-query-key-5e1d0c9b8a7f"
HI = b'{"contents": [{"parts": [{"text": "hi"}]}]}'
DEADLINE = 0.3  # the emulator's header, body and idle timeouts in this module


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[GatewayEmulator, list[str]]]:
    lines: list[str] = []
    with GatewayEmulator(
        token=TOKEN,
        body_limit=4096,
        header_timeout=DEADLINE,
        body_timeout=DEADLINE,
        idle_timeout=DEADLINE,
        log=lines.append,
    ) as emulator:
        yield emulator, lines


@pytest.fixture
def port(hostile: tuple[GatewayEmulator, list[str]]) -> int:
    hostile[0].reset()
    hostile[1].clear()
    return hostile[0].port


def _request(
    target: str | bytes = GEMINI,
    body: bytes = HI,
    *headers: str | bytes,
    method: bytes = b"POST",
) -> bytes:
    target = target.encode() if isinstance(target, str) else target
    lines = [method + b" " + target + b" HTTP/1.1", b"host: 127.0.0.1", b"connection: close"]
    lines += [h.encode() if isinstance(h, str) else h for h in (AUTH, *headers)]
    lines.append(f"content-length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` and read until the server closes (or 5 s pass, which fails the test)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _answer(raw: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(body)


def _gateway_code(raw: bytes) -> tuple[int, object]:
    status, body = _answer(raw)
    assert body["success"] is False and body["name"] == "AiGatewayError"
    return status, body["internalCode"]


# -- malformed input: a 4xx in a known shape --------------------------------------------------


def test_deep_json_body_gets_googles_400(port: int) -> None:
    status, body = _answer(_exchange(port, _request(body=b"[" * 2000 + b"]" * 2000)))
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"  # type: ignore[index]


def test_deep_json_in_cf_aig_metadata_gets_2005(port: int) -> None:
    deep = '{"a":' * 1500 + "1" + "}" * 1500
    raw = _exchange(port, _request(GEMINI, b"{}", f"cf-aig-metadata: {deep}"))
    assert _gateway_code(raw) == (400, 2005)


def test_invalid_utf8_body_gets_googles_400(port: int) -> None:
    status, body = _answer(_exchange(port, _request(body=b'{"contents": "\xff\xfe"}')))
    assert (status, body["error"]["code"]) == (400, 400)  # type: ignore[index]


def test_compat_model_with_control_characters_gets_openais_400(port: int) -> None:
    chat = {"model": "google-ai-studio/m\r\nx", "messages": [{"role": "user", "content": "hi"}]}
    raw = _exchange(port, _request("/v1/acc/gw/compat/chat/completions", json.dumps(chat).encode()))
    status, body = _answer(raw)
    assert status == 400 and body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.parametrize(
    "target",
    [
        GEMINI.replace("gemini-2.5-flash", "gemini%E2%9C%93"),  # not Latin-1
        GEMINI.replace("gemini-2.5-flash", "gemini%00"),  # NUL
        GEMINI.replace("gemini-2.5-flash", "gemini%0d%0aSet-Cookie:%20x"),  # CR LF
        GEMINI.replace("gemini-2.5-flash", "gemini%1b[31m"),  # ESC
    ],
    ids=["non-latin1", "nul", "crlf", "esc"],
)
def test_encoded_control_or_non_ascii_characters_in_the_path_get_9400(
    port: int, target: str
) -> None:
    assert _gateway_code(_exchange(port, _request(target))) == (400, 9400)


@pytest.mark.parametrize(
    "data",
    [
        _request(GEMINI.encode().replace(b"gemini", "gémini".encode())),  # raw non-ASCII path
        _request(GEMINI, b"{}", b"x-note: a\x01b"),  # control character in a header
        _request(GEMINI, b"{}", "x-nom\u00e9: 1".encode()),  # non-ASCII header name
        _request(method=b"GE(T"),  # not a method token
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # TLS to a plain port
        b"GET / HTTP/1.1\r\nhost: x\r\ncontent-length: -5\r\n\r\n",
        f"POST {GEMINI} HTTP/1.1\r\n{AUTH}\r\ntransfer-encoding: chunked\r\n\r\n"
        "5\r\nabcde\r\nzz\r\n".encode(),
    ],
    ids=[
        "raw-non-ascii-path",
        "control-in-header",
        "non-ascii-header-name",
        "bad-method",
        "tls",
        "negative-length",
        "bad-chunk-size",
    ],
)
def test_malformed_http_gets_9400_as_json(port: int, data: bytes) -> None:
    assert _gateway_code(_exchange(port, data)) == (400, 9400)


def test_a_request_pipelined_before_a_malformed_one_is_answered_whole(port: int) -> None:
    first = _request().replace(b"connection: close", b"connection: keep-alive")
    raw = _exchange(port, first + _request(method=b"GE(T"))
    head, _, rest = raw.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head)[1])  # type: ignore[index]
    assert head.startswith(b"HTTP/1.1 200") and json.loads(rest[:length])["candidates"]


def test_non_ascii_header_value_is_just_a_wrong_token(port: int) -> None:
    raw = _request(GEMINI, b"{}").replace(AUTH.encode(), b"cf-aig-authorization: Bearer \xff\xfe")
    assert _gateway_code(_exchange(port, raw)) == (401, 2009)


def test_unknown_method_gets_googles_404(port: int) -> None:
    status, body = _answer(_exchange(port, _request(method=b"BREW")))
    assert (status, body["error"]["status"]) == (404, "NOT_FOUND")  # type: ignore[index]


def test_oversized_headers_get_431(port: int) -> None:
    raw = _exchange(port, _request(GEMINI, b"{}", "x-big: " + "a" * 20_000))
    assert _gateway_code(raw) == (431, 9431)


def _head_of(size: int) -> tuple[bytes, bytes]:
    """A request whose line and headers take ``size`` bytes before the blank line that ends
    them: (those bytes, the rest)."""
    head, _, body = _request(GEMINI, HI, "x-pad: ").partition(b"\r\n\r\n")
    head = head.replace(b"x-pad: ", b"x-pad: " + b"a" * (size - len(head) - 2)) + b"\r\n"
    assert len(head) == size
    return head, b"\r\n" + body


def _send_in_pieces(sock: socket.socket, data: bytes, piece: int = 1024) -> None:
    for start in range(0, len(data), piece):
        sock.sendall(data[start : start + piece])
        threading.Event().wait(0.002)


def test_a_head_of_the_limit_in_small_pieces_is_answered(
    port: int, hostile: tuple[GatewayEmulator, list[str]]
) -> None:
    head, rest = _head_of(MAX_HEAD)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        _send_in_pieces(sock, head)
        threading.Event().wait(0.02)  # all of it received before the blank line
        sock.sendall(rest)
        received = sock.makefile("rb").read()
    assert received.startswith(b"HTTP/1.1 200")
    assert len(hostile[0].requests[0].header("x-pad") or "") > MAX_HEAD - 300


def test_a_head_one_byte_over_the_limit_in_small_pieces_gets_431(
    port: int, hostile: tuple[GatewayEmulator, list[str]]
) -> None:
    head, _ = _head_of(MAX_HEAD + 1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        _send_in_pieces(sock, head)  # its end never comes: the answer does not wait for it
        received = sock.makefile("rb").read()
    assert _gateway_code(received) == (431, 9431)
    assert hostile[0].requests == []


# -- body limit: 413 before the body is read ------------------------------------------------


def test_a_body_over_the_limit_gets_413_before_it_is_sent(
    port: int, hostile: tuple[GatewayEmulator, list[str]]
) -> None:
    head = _request(GEMINI, b"").replace(b"content-length: 0", b"content-length: 1000000000")
    # Only the head is sent: the answer comes without the gigabyte.
    assert _gateway_code(_exchange(port, head)) == (413, 9413)
    assert hostile[0].requests == []


def test_a_chunked_body_over_the_limit_gets_413(port: int) -> None:
    chunk = b"1000\r\n" + b"a" * 4096 + b"\r\n"
    head = f"POST {GEMINI} HTTP/1.1\r\nhost: x\r\n{AUTH}\r\ntransfer-encoding: chunked\r\n\r\n"
    raw = _exchange(port, head.encode() + chunk * 2)
    assert _gateway_code(raw) == (413, 9413)


# -- deadlines: slow or idle clients are dropped ----------------------------------------------


def test_a_connection_that_says_nothing_is_closed(port: int) -> None:
    assert _exchange(port, b"") == b""


def test_headers_trickled_past_the_deadline_get_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST " + GEMINI.encode() + b" HTTP/1.1\r\nhost: x\r\n")
        threading.Event().wait(DEADLINE / 2)
        sock.sendall(b"x-trickled: 1\r\n")  # a byte now and then does not reset the deadline
        received = b""
        while chunk := sock.recv(65536):  # the server closes after its deadline
            received += chunk
    assert _gateway_code(received) == (408, 9408)


def test_an_incomplete_body_gets_408(port: int) -> None:
    data = _request(body=b"x" * 100).replace(b"content-length: 100", b"content-length: 200")
    assert _gateway_code(_exchange(port, data)) == (408, 9408)


def test_a_kept_alive_connections_next_request_has_its_own_header_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_request().replace(b"connection: close", b"connection: keep-alive"))
        first = http.client.HTTPResponse(sock)  # read whole: its head and body come apart
        first.begin()
        first.read()
        threading.Event().wait(DEADLINE / 2)  # within the idle timeout
        sock.sendall(b"POST " + GEMINI.encode() + b" HTTP/1.1\r\nhost: x\r\n")
        received = sock.makefile("rb").read()
    assert first.status == 200
    assert _gateway_code(received) == (408, 9408)


def test_an_idle_kept_alive_connection_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(_request().replace(b"connection: close", b"connection: keep-alive"))
        received = b""
        while chunk := sock.recv(65536):  # the answer, then the close after the idle timeout
            received += chunk
    assert received.startswith(b"HTTP/1.1 200")


def test_many_idle_connections_are_all_dropped(port: int) -> None:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
    try:
        assert all(s.recv(1) == b"" for s in socks)
    finally:
        for s in socks:
            s.close()


# -- what is printed: escaped and masked -----------------------------------------------------


def test_log_lines_and_reprs_escape_control_characters_and_mask_query_keys(
    port: int, hostile: tuple[GatewayEmulator, list[str]]
) -> None:
    emulator, lines = hostile
    target = f"/v1/acc/gw/google-ai-studio/v1beta/models?key={SECRET}&x=%0aforged%1b[2J"
    _exchange(port, _request(target, b"", method=b"GET"))
    _exchange(port, _request(GEMINI + "%0a200%20OK%1b[2J"))
    shown = "\n".join(lines) + repr(emulator.requests) + repr(emulator.upstream_requests)
    assert len(lines) == 2 and all(line.isprintable() for line in lines)
    assert SECRET not in shown and "\x1b" not in shown
    assert "key=<sha256:" in lines[0] and "x=%0aforged%1b[2J" in lines[0]
    assert "\\n200 OK\\x1b[2J" in lines[1]
    assert all(repr(r).isprintable() for r in emulator.requests)


# -- memory: the journal is bounded -----------------------------------------------------------


def test_the_journal_keeps_its_configured_size_and_body_budget() -> None:
    with GatewayEmulator(token=TOKEN, journal_size=5, journal_bytes=5000) as small:
        sizes = []
        for i in range(20):
            body = json.dumps({"contents": [{"parts": [{"text": f"{i} " + "x" * 1000}]}]})
            _exchange(small.port, _request(body=body.encode()))
            sizes.append(len(body))
        kept = small.requests
        upstream = small.upstream_requests
    assert len(kept) == 5 and len(upstream) == 5
    assert [r.body_size for r in kept] == sizes[-5:]
    assert sum(len(r.body) for r in kept) <= 5000 and kept[-1].json["contents"]
    assert kept[0].body == b"" and len(kept[0].body_sha256 or "") == 64
    with pytest.raises(ValueError, match="kept only the SHA-256"):
        kept[0].json  # noqa: B018


def test_memory_stays_flat_once_the_journal_is_full() -> None:
    body = json.dumps({"contents": [{"parts": [{"text": "x" * 64_000}]}]}).encode()
    with GatewayEmulator(token=TOKEN, journal_size=10) as small:
        for _ in range(20):  # fill the journal first
            _exchange(small.port, _request(body=body))
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(150):  # 9.6 MB of bodies
                _exchange(small.port, _request(body=body))
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 2_000_000, grown


# -- the Python API ----------------------------------------------------------------------------


def test_python_api_refuses_a_non_loopback_host_unless_allowed() -> None:
    with pytest.raises(ConfigError, match="not a loopback address: pass allow_remote=True"):
        GatewayEmulator(host="0.0.0.0")  # noqa: S104
    assert GatewayEmulator(host="0.0.0.0", allow_remote=True).host == "0.0.0.0"  # noqa: S104


def test_python_api_has_a_stored_key_by_default() -> None:
    with GatewayEmulator(token=TOKEN) as emulator:
        status, body = _answer(_exchange(emulator.port, _request()))
        assert status == 200 and "candidates" in body
        assert emulator.upstream_requests[0].header("x-goog-api-key") == DEFAULT_STORED_KEY


def test_stopping_with_a_request_in_flight_answers_it_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator = GatewayEmulator(token=TOKEN).start()
    emulator.stall_next(30)
    received: list[bytes] = []
    client = threading.Thread(target=lambda: received.append(_exchange(emulator.port, _request())))
    client.start()
    while not emulator.requests:
        threading.Event().wait(0.01)
    with caplog.at_level(logging.INFO):
        emulator.stop()
    client.join(timeout=10)
    assert received and _gateway_code(received[0]) == (503, 9503)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# -- cfgenai gateway ---------------------------------------------------------------------------


def test_cli_port_in_use_is_a_usage_error_naming_the_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["gateway", "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port 0" in err


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_cli_port_out_of_range_is_an_argparse_error(
    capsys: pytest.CaptureFixture[str], port: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["gateway", "--port", port])
    assert exited.value.code == 2
    assert f"argument --port: {port!r} is not a port" in capsys.readouterr().err


def test_cli_default_port_is_not_wranglers(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["gateway", "--help"])
    assert "(default: 6787)" in capsys.readouterr().out


@pytest.mark.parametrize("token_in", ["nowhere", "the shell", ".env", "a secret file"])
def test_cli_prints_what_a_client_needs_and_eval_makes_ask_and_log_work(
    tmp_path: Path, token_in: str
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CF_AIG_", "CLOUDFLARE_", "GOOGLE_", "GEMINI_"))
    }
    if token_in == "the shell":
        env["CF_AIG_TOKEN"] = TOKEN
    elif token_in == ".env":
        (tmp_path / ".env").write_text(f"CF_AIG_TOKEN={TOKEN}\nCLOUDFLARE_API_TOKEN={API_TOKEN}\n")
    elif token_in == "a secret file":
        (tmp_path / "token").write_text(TOKEN)
        env["CF_AIG_TOKEN_FILE"] = str(tmp_path / "token")
    server = subprocess.Popen(
        [sys.executable, "-m", "cfgenai", "gateway", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    cfgenai_ = f'"{sys.executable}" -m cfgenai'
    log_id = f'"$({sys.executable} -c \'import json; print(json.load(open("a.json"))["gateway"]["log_id"])\')"'
    try:
        assert server.stdout is not None
        printed = [server.stdout.readline() for _ in range(6)]
        script = (
            "".join(printed) + f"{cfgenai_} ask --json hello > a.json\n{cfgenai_} log {log_id}\n"
        )
        done = subprocess.run(
            ["/bin/bash", "-e", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
    finally:
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=20)
    assert printed[0].startswith("# cfgenai gateway emulator on http://127.0.0.1:")
    token_line = "export CF_AIG_TOKEN" if token_in in ("nowhere", "the shell") else "# CF_AIG_TOKEN"
    api_line = "# CLOUDFLARE_API_TOKEN" if token_in == ".env" else "export CLOUDFLARE_API_TOKEN"
    assert [line.split("=")[0].split(":")[0] for line in printed[1:]] == [
        "export CF_AIG_BASE_URL",
        token_line,
        "export CLOUDFLARE_API_BASE_URL",
        api_line,
        "export CF_AIG_MODE",
    ]
    assert done.returncode == 0, done.stderr
    answer = json.loads((tmp_path / "a.json").read_text())
    assert answer["response"]["candidates"][0]["content"]["parts"][0]["text"] == (
        "Echo from gemini-2.5-flash: hello"
    )
    assert answer["gateway"]["log_id"] in done.stdout  # cfgenai log found it on the emulator
    assert server.returncode == 0 and "Traceback" not in err
    assert TOKEN not in "".join(printed) + done.stdout + done.stderr and API_TOKEN not in err


def test_cli_with_a_token_never_prints_it_but_eval_asks_for_it(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "cfgenai", "gateway", "--port", "0", "--token", TOKEN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert server.stdout is not None
        printed = "".join(server.stdout.readline() for _ in range(6))
        unset = {k: v for k, v in os.environ.items() if k != "CF_AIG_TOKEN"}
        missing = subprocess.run(
            ["/bin/bash", "-c", printed], capture_output=True, text=True, env=unset
        )
        given = subprocess.run(
            ["/bin/bash", "-c", printed + 'echo "$CF_AIG_TOKEN"'],
            capture_output=True,
            text=True,
            env={**unset, "CF_AIG_TOKEN": TOKEN},
        )
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)
    assert TOKEN not in printed
    assert missing.returncode != 0 and "set it to the token the emulator requires" in missing.stderr
    assert given.stdout.strip() == TOKEN


def test_cli_stops_cleanly_with_a_request_in_flight(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "cfgenai", "gateway", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert server.stdout is not None
    port = int(server.stdout.readline().split(" on ")[1].split(" ")[0].rsplit(":", 1)[1])
    for _ in range(3):
        server.stdout.readline()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # Headers and half the body: the request is in flight when the server stops.
        sock.sendall(_request(body=b"x" * 100).replace(b"length: 100", b"length: 200"))
        threading.Event().wait(0.2)
        server.send_signal(signal.SIGINT)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    out, err = server.communicate(timeout=20)
    assert server.returncode == 0
    assert "Traceback" not in err and "Error" not in err, err
    assert out.endswith("cfgenai gateway emulator stopped\n")
    assert received == b"" or _gateway_code(received) == (503, 9503)


def test_the_journal_forgets_the_oldest_requests_when_their_headers_fill_its_budget() -> None:
    headers = [f"x-filler-{i}: {'v' * 16}" for i in range(400)]  # 12 KB of headers
    with GatewayEmulator(token=TOKEN, journal_bytes=200_000) as gateway:
        for _ in range(40):
            _exchange(gateway.port, _request(GEMINI, b'{"contents": []}', *headers))
        kept = gateway.requests
    assert 1 <= len(kept) < 40  # about 55 KB each by the journal's count: only the newest fit
    assert len(kept[-1].headers) > 400


def test_the_cache_keeps_to_its_budget_and_sweeps_expired_answers() -> None:
    from cfgenai.testing._answers import Answer
    from cfgenai.testing._cache import AnswerCache

    now = [0.0]
    cache = AnswerCache(lambda: now[0], budget=100_000)
    for i in range(50):
        cache.put(f"k{i}", Answer(200, {"text": "x" * 10_000}), ttl=60)
    assert cache.get("k49") is not None and cache.get("k0") is None  # the oldest went first
    assert cache._kept <= 100_000
    now[0] = 61
    cache.put("fresh", Answer(200, {"text": "y"}), ttl=60)
    assert list(cache._answers) == ["fresh"]  # the expired ones swept


def test_running_out_of_file_descriptors_is_reported_once_a_second() -> None:
    code = (
        "import resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from cfgenai.testing import GatewayEmulator\n"
        "g = GatewayEmulator().start()\n"
        "print(g.port, flush=True)\n"
        "time.sleep(2.5)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None and child.stderr is not None
        port = int(child.stdout.readline())
        held = []
        for _ in range(120):  # far more connections than the emulator has descriptors
            with contextlib.suppress(OSError):
                held.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        child.wait(timeout=30)
        reports = child.stderr.read().count("socket.accept() out of system resource")
    for sock in held:
        sock.close()
    assert 1 <= reports <= 4  # one a second, however many accepts failed


def test_allow_remote_prints_a_loopback_address_and_warns(tmp_path: Path) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cfgenai",
            "gateway",
            "--host",
            "0.0.0.0",  # noqa: S104 - what the test is about
            "--allow-remote",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CF_AIG_ENV_FILE": ""},
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        banner = [process.stdout.readline() for _ in range(2)]
        process.kill()  # before uvicorn takes over the signals, SIGTERM would wait for it
        process.wait(timeout=20)
        warned = process.stderr.read()
    assert re.fullmatch(r"export CF_AIG_BASE_URL=http://127\.0\.0\.1:\d+/v1/acc/gw\n", banner[1])
    assert "reachable from the network" in warned
