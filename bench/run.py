"""Benchmarks: ratios measured side by side in one run, each against its target.

    uv run python bench/run.py [--quick]

Nothing here is a test: the numbers depend on the machine, so they are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
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

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        elapsed = (time.perf_counter() - start) / count
        await client.aio.aclose()
        return elapsed

    return asyncio.run(run())


def _median_ratio(
    measure: Callable[[], tuple[float, float]], trials: int
) -> tuple[float, float, float]:
    pairs = [measure() for _ in range(trials)]
    ours = statistics.median(p[0] for p in pairs)
    base = statistics.median(p[1] for p in pairs)
    return ours, base, statistics.median(p[0] / p[1] for p in pairs)


def emulator_vs_bare(count: int, trials: int) -> list[tuple[str, float, float, float, float]]:
    rows = []
    with (
        GatewayEmulator(token=TOKEN, stored_keys={"default": "k"}) as emulator,
        BareServer(emulator) as bare,
    ):
        on_emulator = cfgenai.build_client(base_url=emulator.base_url, token=TOKEN, _env_file=None)
        on_bare = cfgenai.build_client(
            base_url=bare.url + "/v1/acc/gw", token=TOKEN, _env_file=None
        )

        def sync_pair() -> tuple[float, float]:
            emulator.reset()  # the journal would otherwise grow through the run
            base = _per_request(
                lambda: on_bare.models.generate_content(model=MODEL, contents="hi"), count
            )
            ours = _per_request(
                lambda: on_emulator.models.generate_content(model=MODEL, contents="hi"), count
            )
            return ours, base

        def async_pair() -> tuple[float, float]:
            emulator.reset()
            base = _async_per_request(on_bare, count * 2, 50)
            return _async_per_request(on_emulator, count * 2, 50), base

        for name, pair in (("sequential sync", sync_pair), ("async, 50 in flight", async_pair)):
            pair()  # warm up connections and code paths
            ours, base, ratio = _median_ratio(pair, trials)
            rows.append((f"emulator vs bare server, {name}", ours, base, ratio, 1.25))
    return rows


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    args = parser.parse_args()
    count, trials = (100, 3) if args.quick else (400, 7)

    print(f"{'figure':<48} {'ours':>10} {'baseline':>10} {'ratio':>7} {'target':>8}  result")
    for name, ours, base, ratio, target in emulator_vs_bare(count, trials):
        verdict = "PASS" if ratio <= target else "FAIL"
        print(
            f"{name:<48} {ours * 1e3:>8.3f}ms {base * 1e3:>8.3f}ms {ratio:>7.3f} {'<=' + str(target):>8}  {verdict}"
        )
    session, cold = fixture_start()
    verdict = "PASS" if session < 0.5 else "FAIL"
    label = "cf_gateway fixture start in a pytest session"
    print(f"{label:<48} {session * 1e3:>8.1f}ms {'':>18} {'<500ms':>8}  {verdict}")
    print(f"{'  the same from a bare interpreter, for scale':<48} {cold * 1e3:>8.1f}ms")


if __name__ == "__main__":
    main()
