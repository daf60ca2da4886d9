"""Benchmarks: ratios measured side by side in one run, each against its target.

    uv run python bench/run.py [--quick]

Nothing here is a test: the numbers depend on the machine, so they are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import timeit
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

import cfgenai
from cfgenai.testing import GatewayEmulator

MODEL = "gemini-2.5-flash"
TOKEN = "bench-token"


def _constant_app(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Any:
    """The bare baseline: read the request, answer the same bytes every time."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


class BareServer:
    """The emulator's HTTP server library answering one recorded response of the emulator's,
    byte for byte: what differs from the emulator is only the work the emulator does."""

    def __init__(self, emulator: GatewayEmulator) -> None:
        url = f"{emulator.base_url}/google-ai-studio/v1/models/{MODEL}:generateContent"
        body = json.dumps({"contents": [{"parts": [{"text": "hi"}], "role": "user"}]}).encode()
        headers = {"cf-aig-authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
        with urllib.request.urlopen(urllib.request.Request(url, body, headers)) as answer:
            # uvicorn adds its own date and server; urllib asked for "connection: close".
            recorded = [
                (k.lower().encode(), v.encode())
                for k, v in answer.getheaders()
                if k.lower() not in ("date", "server", "connection")
            ]
            self.app = _constant_app(answer.status, recorded, answer.read())

    def __enter__(self) -> BareServer:
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the emulator does
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app, interface="asgi3", lifespan="off", log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self.thread.start()
        while not self.server.started:
            time.sleep(0.002)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join()


def _per_request(call: Callable[[], None], count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count


def _async_per_request(client: Any, count: int, in_flight: int) -> float:
    async def run() -> float:
        gate = asyncio.Semaphore(in_flight)

        async def one() -> None:
            async with gate:
                await client.aio.models.generate_content(model=MODEL, contents="hi")

        _ = client.aio  # the shared client, closed by the last run, is rebuilt out of the timing
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = (time.perf_counter() - start) / count
        await client.aio.aclose()
        return elapsed

    return asyncio.run(run())


def _median_ratio(
    ours: Callable[[], float], base: Callable[[], float], trials: int, before: Callable[[], None]
) -> tuple[float, float, float]:
    """Medians of ``trials`` paired runs, taking turns at going first; ``before`` runs before
    each measurement (it resets the emulator's journal, which would otherwise grow)."""
    pairs = []
    for trial in range(trials + 1):
        times: dict[Callable[[], float], float] = {}
        for measure in (ours, base) if trial % 2 else (base, ours):
            before()
            times[measure] = measure()
        if trial:  # the first pair warms connections and code paths up
            pairs.append((times[ours], times[base]))
    return (
        statistics.median(p[0] for p in pairs),
        statistics.median(p[1] for p in pairs),
        statistics.median(p[0] / p[1] for p in pairs),
    )


def _compare(
    label: str,
    ours: Any,
    base: Any,
    count: int,
    trials: int,
    before: Callable[[], None],
    target: float,
) -> list[tuple[str, float, float, float, float]]:
    """Per-request time of two clients, sequential and with 50 async requests in flight."""

    def sync(client: Any) -> Callable[[], float]:
        return lambda: _per_request(
            lambda: client.models.generate_content(model=MODEL, contents="hi"), count
        )

    def in_flight(client: Any) -> Callable[[], float]:
        return lambda: _async_per_request(client, count, 50)

    rows = []
    for name, kind in (("sequential sync", sync), ("async, 50 in flight", in_flight)):
        mine, theirs, ratio = _median_ratio(kind(ours), kind(base), trials, before)
        rows.append((f"{label}, {name}", mine, theirs, ratio, target))
    return rows


def emulator_vs_bare(count: int, trials: int) -> list[tuple[str, float, float, float, float]]:
    with (
        GatewayEmulator(token=TOKEN, stored_keys={"default": "k"}) as emulator,
        BareServer(emulator) as bare,
    ):
        on_emulator = cfgenai.build_client(base_url=emulator.base_url, token=TOKEN, _env_file=None)
        on_bare = cfgenai.build_client(
            base_url=bare.url + "/v1/acc/gw", token=TOKEN, _env_file=None
        )

        return _compare(
            "emulator vs bare server", on_emulator, on_bare, count, trials, emulator.reset, 1.25
        )


def fixture_start() -> tuple[float, float]:
    """Seconds from asking for the emulator to its port accepting requests, in a fresh
    interpreter: as a pytest session meets it (pytest and cfgenai, which the tests use, already
    imported), and from nothing at all."""
    timed = (
        "import time; t = time.perf_counter()\n"
        "from cfgenai.testing import GatewayEmulator\n"
        "g = GatewayEmulator().start(); print(time.perf_counter() - t); g.stop()\n"
    )
    runs = {"session": "import pytest, cfgenai\n" + timed, "cold": timed}
    medians = {
        name: statistics.median(
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout
            )
            for _ in range(5)
        )
        for name, code in runs.items()
    }
    return medians["session"], medians["cold"]


def _bare_client(base_url: str) -> Any:
    """What a user would write without cfgenai, with the same effect on the wire."""
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key="bench-google-key",
        http_options=types.HttpOptions(
            base_url=base_url, headers={"cf-aig-authorization": f"Bearer {TOKEN}"}
        ),
    )


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    """The benchmark's own process environment, as cfgenai reads it, for the duration."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
        cfgenai.reset_client()


def construction(trials: int) -> tuple[float, float]:
    """Median seconds to build a client: build_client() from the environment vs a bare one."""
    url = f"https://gateway.ai.cloudflare.com/v1/{'0' * 32}/default/google-ai-studio"
    with _environment(
        CF_AIG_ACCOUNT_ID="0" * 32, CF_AIG_TOKEN=TOKEN, GOOGLE_API_KEY="bench-google-key"
    ):
        cfgenai.build_client(), _bare_client(url)  # imports and first-use caches, for both
        ours = statistics.median(_time(cfgenai.build_client) for _ in range(trials))
        base = statistics.median(_time(lambda: _bare_client(url)) for _ in range(trials))
    return ours, base


def _time(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def overhead(count: int, trials: int) -> list[tuple[str, float, float, float, float]]:
    """Per-request time through ``cfgenai.client`` (the shared client's proxy, configured from
    the environment) vs a bare client, same emulator."""
    with (
        GatewayEmulator(token=TOKEN) as emulator,
        _environment(
            CF_AIG_BASE_URL=emulator.base_url,
            CF_AIG_TOKEN=TOKEN,
            GOOGLE_API_KEY="bench-google-key",
            CF_AIG_ENV_FILE="",
        ),
    ):
        bare = _bare_client(emulator.base_url + "/google-ai-studio")
        return _compare(
            "per request, cfgenai.client vs bare client",
            cfgenai.client,
            bare,
            count,
            trials,
            emulator.reset,
            1.03,
        )


def proxy_access(trials: int) -> tuple[float, float, float]:
    """Seconds for one ``client.models`` through ``cfgenai.client`` vs on the real client."""
    with _environment(CF_AIG_BASE_URL="http://127.0.0.1:9/v1/acc/gw", CF_AIG_TOKEN=TOKEN):
        proxy, real = cfgenai.client, cfgenai.shared_client()
        number = 200_000

        def each(client: Any) -> Callable[[], float]:
            return lambda: timeit.timeit("c.models", globals={"c": client}, number=number) / number

        return _median_ratio(each(proxy), each(real), trials, lambda: None)


def _fresh(code: str, trials: int) -> float:
    """Median seconds for a fresh interpreter to run ``code``, with bytecode cached as on a
    user's machine (this workplace sets PYTHONDONTWRITEBYTECODE; the first run writes it)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def run() -> None:
        subprocess.run([sys.executable, "-c", code], check=True, env=env)

    run()
    return statistics.median(_time(run) for _ in range(trials))


def cold_start(trials: int) -> list[tuple[str, float, float, float, float]]:
    """Fresh interpreters: importing, and importing plus one request against an emulator."""
    imports = (_fresh("import cfgenai", trials), _fresh("from google import genai", trials))
    with GatewayEmulator(token=TOKEN) as emulator:
        ours = (
            "import os\n"
            f"os.environ.update(CF_AIG_BASE_URL='{emulator.base_url}', CF_AIG_TOKEN='{TOKEN}', GOOGLE_API_KEY='k')\n"
            "from cfgenai import client\n"
            "client.models.generate_content(model='m', contents='hi')\n"
        )
        bare = (
            "from google import genai\nfrom google.genai import types\n"
            f"c = genai.Client(api_key='k', http_options=types.HttpOptions(base_url='{emulator.base_url}/google-ai-studio', "
            f"headers={{'cf-aig-authorization': 'Bearer {TOKEN}'}}))\n"
            "c.models.generate_content(model='m', contents='hi')\n"
        )
        request = (_fresh(ours, trials), _fresh(bare, trials))
    return [
        ("import cfgenai vs from google import genai", *imports, imports[0] / imports[1], 0.5),
        ("fresh process: import, build, one request", *request, request[0] / request[1], 0.92),
    ]


def connections_for(count: int) -> int:
    """TCP connections the shared client opens for ``count`` sequential calls."""
    with GatewayEmulator(token=TOKEN, stored_keys={"default": "k"}) as emulator:
        client = cfgenai.build_client(base_url=emulator.base_url, token=TOKEN, _env_file=None)
        for _ in range(count):
            client.models.generate_content(model=MODEL, contents="hi")
        return emulator.connections


def stream_lateness(chunks: int, spacing: float) -> tuple[float, float]:
    """Worst delay of a chunk behind the emulator's schedule, sync and async (seconds)."""
    with GatewayEmulator(token=TOKEN, stored_keys={"default": "k"}) as emulator:
        client = cfgenai.build_client(base_url=emulator.base_url, token=TOKEN, _env_file=None)

        def worst(arrivals: list[float]) -> float:
            return max(t - (arrivals[0] + i * spacing) for i, t in enumerate(arrivals))

        emulator.reply([f"chunk{i} " for i in range(chunks)], chunk_delay=spacing)
        sync = [
            time.perf_counter()
            for _ in client.models.generate_content_stream(model=MODEL, contents="hi")
        ]

        async def read() -> list[float]:
            arrivals = []
            async with client.aio as aio:
                async for _ in await aio.models.generate_content_stream(model=MODEL, contents="hi"):
                    arrivals.append(time.perf_counter())
            return arrivals

        return worst(sync), worst(asyncio.run(read()))


# -- the emulator as a long-running server: memory and throughput, in a child process -----

_SERVE = (
    "import sys\n"
    "from cfgenai.testing import GatewayEmulator\n"
    f"g = GatewayEmulator(token={TOKEN!r}, stored_keys={{'default': 'k'}}).start()\n"
    "print(g.port, flush=True)\n"
    "sys.stdin.read()\n"
    "g.stop()\n"
)


class ChildEmulator:
    """The emulator in its own process, so its memory is its own and client and server do
    not share a GIL."""

    def __enter__(self) -> ChildEmulator:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        return self

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        return kb / 1024

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def _raw_request() -> bytes:
    body = json.dumps({"contents": [{"parts": [{"text": "hi"}], "role": "user"}]}).encode()
    head = (
        f"POST /v1/acc/gw/google-ai-studio/v1beta/models/{MODEL}:generateContent HTTP/1.1\r\n"
        "host: 127.0.0.1\r\ncontent-type: application/json\r\n"
        f"cf-aig-authorization: Bearer {TOKEN}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _hammer(port: int, total: int, in_flight: int) -> float:
    """Requests per second for ``total`` requests, ``in_flight`` kept-alive connections each
    sending its share one after the other (a bare asyncio client: the server is measured)."""
    request = _raw_request()

    async def connection(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            await reader.readexactly(length)
        writer.close()
        await writer.wait_closed()

    async def run() -> float:
        shares = [total // in_flight + (i < total % in_flight) for i in range(in_flight)]
        start = time.perf_counter()
        await asyncio.gather(*(connection(n) for n in shares))
        return total / (time.perf_counter() - start)

    return asyncio.run(run())


def emulator_memory(small: int, large: int) -> tuple[float, float]:
    """The emulator's RSS (MB) after ``small`` requests and after ``large`` requests."""
    with ChildEmulator() as child:
        _hammer(child.port, small, 10)
        after_small = child.rss_mb()
        _hammer(child.port, large - small, 10)
        return after_small, child.rss_mb()


def emulator_throughput(count: int, trials: int) -> dict[int, float]:
    """Median requests/s with 1 and with 200 requests in flight, each trial a fresh process."""
    rates: dict[int, list[float]] = {1: [], 200: []}
    for _ in range(trials):
        for in_flight in rates:
            with ChildEmulator() as child:
                _hammer(child.port, 200, 10)  # warm up
                rates[in_flight].append(_hammer(child.port, count, in_flight))
    return {n: statistics.median(r) for n, r in rates.items()}


def _row(
    name: str, ours: float, base: float, ratio: float, target: float, unit: str = "ms"
) -> None:
    verdict = "PASS" if ratio <= target else "FAIL"
    scale = {"ms": 1e3, "ns": 1e9}[unit]
    print(
        f"{name:<48} {ours * scale:>8.3f}{unit} {base * scale:>8.3f}{unit} {ratio:>7.3f} {'<=' + str(target):>8}  {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    parser.add_argument(
        "--emulator", action="store_true", help="only the emulator's memory and throughput"
    )
    args = parser.parse_args()
    count, trials = (100, 3) if args.quick else (400, 7)
    long = 200 if args.quick else 2000

    if args.quick:
        print(
            "quick run: few, short trials; ratios move by about 5% between runs. Use the full run."
        )
    print(f"{'figure':<48} {'ours':>10} {'baseline':>10} {'ratio':>7} {'target':>8}  result")
    _emulator_figures(args.quick)
    if args.emulator:
        return
    ours, base = construction(20 if args.quick else 200)
    _row("client construction, build_client() vs bare", ours, base, ours / base, 0.05)
    for row in overhead(long, 3 if args.quick else 5):
        _row(*row)
    ours, base, ratio = proxy_access(5 if args.quick else 15)
    _row("attribute access, cfgenai.client vs the client", ours, base, ratio, 1.5, "ns")
    for row in cold_start(3 if args.quick else 7):
        _row(*row)
    for row in emulator_vs_bare(count, trials):
        _row(*row)
    opened = connections_for(200)
    label = "TCP connections for 200 sequential calls"
    print(f"{label:<48} {opened:>10} {'':>18} {'==1':>8}  {'PASS' if opened == 1 else 'FAIL'}")
    for name, late in zip(("sync", "async"), stream_lateness(5, 0.2), strict=True):
        label = f"stream chunk lateness, 200 ms apart, {name}"
        print(
            f"{label:<48} {late * 1e3:>8.1f}ms {'':>18} {'<=20ms':>8}  {'PASS' if late <= 0.02 else 'FAIL'}"
        )
    session, cold = fixture_start()
    verdict = "PASS" if session < 0.5 else "FAIL"
    label = "cf_gateway fixture start in a pytest session"
    print(f"{label:<48} {session * 1e3:>8.1f}ms {'':>18} {'<500ms':>8}  {verdict}")
    print(f"{'  the same from a bare interpreter, for scale':<48} {cold * 1e3:>8.1f}ms")


def _emulator_figures(quick: bool) -> None:
    small, large = (1_000, 10_000) if quick else (1_000, 100_000)
    before, after = emulator_memory(small, large)
    verdict = "PASS" if after - before <= 50 else "FAIL"
    label = f"emulator RSS after {large:,} requests vs {small:,}"
    print(f"{label:<48} {after:>8.1f}MB {before:>8.1f}MB {'':>7} {'+<=50MB':>8}  {verdict}")
    for in_flight, rate in emulator_throughput(*((2_000, 1) if quick else (10_000, 3))).items():
        label = f"emulator requests/s, {in_flight} in flight"
        print(f"{label:<48} {rate:>10.0f}")


if __name__ == "__main__":
    main()
