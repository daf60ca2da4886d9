"""The emulator as one `cfgenai gateway` serving a whole team's tests: what it holds for clients
(unfinished uploads, log entries) stays within its options, whatever the clients leave behind."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from cfgenai.testing import GatewayEmulator

from .conftest import API_TOKEN, GOOGLE_KEY, TOKEN, sdk_http

AUTH = {"cf-aig-authorization": f"Bearer {TOKEN}", "x-goog-api-key": GOOGLE_KEY}


@pytest.fixture
def http() -> Iterator[Any]:
    with sdk_http().Client(timeout=10) as client:
        yield client


def _temp_files() -> int:
    """The temporary files this process holds open (the emulator runs in a thread of it)."""
    folder, count = tempfile.gettempdir(), 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed since it was listed
            count += os.readlink(f"/proc/self/fd/{fd}").startswith(folder)
    return count


# -- unfinished uploads ------------------------------------------------------------------------


def _start(http: Any, gateway: GatewayEmulator) -> Any:
    return http.post(
        f"{gateway.base_url}/google-ai-studio/upload/v1beta/files",
        headers={
            **AUTH,
            "x-goog-upload-protocol": "resumable",
            "x-goog-upload-command": "start",
            "x-goog-upload-header-content-length": "2",
        },
        json={"file": {}},
    )


def _finish(http: Any, started: Any) -> Any:
    return http.post(
        started.headers["x-goog-upload-url"],
        headers={**AUTH, "x-goog-upload-command": "upload, finalize", "x-goog-upload-offset": "0"},
        content=b"hi",
    )


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_unfinished_uploads_are_capped_and_expire_on_the_emulators_clock(http: Any) -> None:
    now = [0.0]
    emulator = GatewayEmulator(
        token=TOKEN,
        clock=lambda: now[0],
        upload_sessions=3,
        upload_ttl=60,
        upload_urls="gateway",
    )
    with emulator as gateway:
        before = _temp_files()
        started = [_start(http, gateway) for _ in range(3)]
        assert [s.status_code for s in started] == [200, 200, 200]
        assert _temp_files() - before == 3

        refused = _start(http, gateway)  # one more than the cap: refused as Google would
        assert refused.status_code == 429
        assert refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert "upload_sessions" in refused.json()["error"]["message"]
        assert "x-goog-upload-url" not in refused.headers
        assert _temp_files() - before == 3  # nothing freed, nothing opened

        done = _finish(http, started[0])  # the uploads under way still finish
        assert done.status_code == 200 and done.json()["file"]["sizeBytes"] == "2"
        assert _start(http, gateway).status_code == 200  # its place is free again

        now[0] = 30
        assert _finish(http, started[1]).status_code == 200  # not expired yet
        now[0] = 61  # the others have waited 61 s since their start: expired
        assert _start(http, gateway).status_code == 200
        late = _finish(http, started[2])
        assert late.status_code == 400 and "no such upload session" in late.text
        # Two stored files (each kept in a temporary file) and the newest upload.
        assert _temp_files() - before == 3
    assert _temp_files() == before


def test_upload_options_are_checked() -> None:
    from cfgenai import ConfigError

    with pytest.raises(ConfigError) as caught:
        GatewayEmulator(upload_sessions=-1, upload_ttl=0, log_bytes=-1)
    assert "upload_sessions must be 0 or more" in str(caught.value)
    assert "upload_ttl must be a positive number" in str(caught.value)
    assert "log_bytes must be 0 or more" in str(caught.value)


# -- log entries ------------------------------------------------------------------------------


def _size(entries: list[dict[str, Any]]) -> int:
    return sum(len(json.dumps(entry)) for entry in entries)


def test_the_log_store_keeps_to_its_byte_budget_oldest_dropped_first(http: Any) -> None:
    model = "m" * 8000  # in the entry's path and model: about 16 KB each
    url = f"/google-ai-studio/v1beta/models/{model}:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    with GatewayEmulator(token=TOKEN, log_bytes=200_000, models=[model]) as gateway:
        ids = []
        for _ in range(40):
            answer = http.post(f"{gateway.base_url}{url}", headers=AUTH, json=body)
            assert answer.status_code == 200
            ids.append(answer.headers["cf-aig-log-id"])
        kept = gateway.logs
        assert 5 <= len(kept) < 40
        assert [entry["id"] for entry in kept] == ids[-len(kept) :]  # the newest, in order
        assert _size(kept) <= 200_000

        # Feedback that makes an entry larger counts too.
        api = f"{gateway.api_base_url}/accounts/acc/ai-gateway/gateways/gw/logs/{ids[-1]}"
        metadata = {f"k{i}": "v" * 30_000 for i in range(5)}
        patched = http.patch(
            api, headers={"authorization": f"Bearer {API_TOKEN}"}, json={"metadata": metadata}
        )
        assert patched.status_code == 200
        after = gateway.logs
        assert after[-1]["id"] == ids[-1] and len(after[-1]["metadata"]) > 150_000
        assert len(after) < len(kept) and _size(after) <= 200_000
