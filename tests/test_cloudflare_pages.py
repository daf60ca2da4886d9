"""Cloudflare's own error pages in front of the gateway (a plain-text ``error code: 1016``, its
HTML error pages, Cloudflare Access's page) are Cloudflare's answer, not Google's: every
transport raises ``GatewayError`` with a hint, and ``cfgenai ask`` exits with the gateway's code.

Served by a loopback server of this file's own, since these bodies are not JSON.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.genai import _api_client, errors

from cfgenai import GatewayError
from cfgenai.cli import main

from .calls import CALLS
from .conftest import ASYNC_OVER_AIOHTTP, CANARIES, GOOGLE_KEY, TOKEN, Build

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_HTML_1016 = (
    '<!DOCTYPE html>\n<html lang="en-US"><head><title>gateway.example.com | 1016: Origin DNS '
    'error</title></head><body><div id="cf-wrapper"><div id="cf-error-details"><h1>'
    '<span class="cf-error-type">Error</span> <span class="cf-error-code">1016</span></h1>'
    "<h2>Origin DNS error</h2></div><p>Cloudflare Ray ID: <strong>8c1a2b3c4d5e6f70</strong> "
    "&bull; Performance &amp; security by Cloudflare</p></div></body></html>"
)
_ACCESS_403 = (
    '<!DOCTYPE html><html><head><title>Forbidden</title></head><body><div class="access">'
    "<h1>Forbidden</h1><p>You don't have permission to view this. Please contact your system "
    'administrator.</p><a href="https://team.cloudflareaccess.com">Cloudflare Access</a>'
    "</div></body></html>"
)

# name -> (status, content type, body, gateway_code, what the hint names)
PAGES: dict[str, tuple[int, str, str, int | None, str]] = {
    "530 error code 1016": (530, "text/plain", "error code: 1016", 1016, "CF_AIG_BASE_URL"),
    "502 html": (502, "text/html", _HTML_502, None, "retry later"),
    "530 html 1016": (530, "text/html", _HTML_1016, 1016, "origin DNS error"),
    "403 access": (403, "text/html", _ACCESS_403, None, "CF_AIG_ACCESS_TOKEN"),
}


class _Pages(ThreadingHTTPServer):
    page: tuple[int, str, bytes] = (200, "text/plain", b"")
    seen: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Pages

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen += 1
        status, content_type, body = self.server.page
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("server", "cloudflare")
        self.send_header("cf-ray", "8c1a2b3c4d5e6f70-LHR")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def pages() -> Iterator[_Pages]:
    """A loopback server answering every request with ``server.page``."""
    with _Pages(("127.0.0.1", 0), _Handler) as server:
        thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
        thread.start()
        yield server
        server.shutdown()
        thread.join(10)


def _root(server: _Pages) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1/acc/gw"


def _no_canary(error: BaseException) -> None:
    texts = [str(error), repr(error), repr(vars(error)), repr(pickle.dumps(error))]
    cause = error.__cause__ or error.__context__
    while cause is not None:
        texts.append(str(cause) + repr(cause))
        cause = cause.__cause__ or cause.__context__
    for canary in CANARIES:
        assert all(canary not in text for text in texts)


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("call", [*CALLS, "async-httpx", "async-stream-httpx"])
def test_cloudflares_own_pages_raise_gateway_errors_with_a_hint(
    pages: _Pages,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    call: str,
    mode: str,
    page: str,
) -> None:
    status, content_type, body, code, named = PAGES[page]
    pages.page = status, content_type, body.encode()
    if call.endswith("-httpx"):
        if not ASYNC_OVER_AIOHTTP:
            pytest.skip("async requests go over httpx anyway")
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
        call = call.removesuffix("-httpx")
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=_root(pages), token=TOKEN, retries=0, **key)
    with pytest.raises(GatewayError) as caught:
        CALLS[call](client)
    error = caught.value
    assert isinstance(error, errors.ServerError if status >= 500 else errors.ClientError)
    assert (error.code, error.gateway_code) == (status, code)
    assert named in error.hint
    assert str(error).startswith(f"{status} Cloudflare answered")
    assert error.message.endswith(error.hint)
    assert error.response.text == body  # the page itself is kept
    assert pages.seen == 1
    _no_canary(error)
    again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (type(again), str(again), again.hint) == (type(error), str(error), error.hint)


def test_a_google_html_page_stays_googles(pages: _Pages, build: Build) -> None:
    # Every answer through the gateway carries Cloudflare's headers: only the body tells.
    pages.page = 404, "text/html", b"<html><title>Error 404 (Not Found)!!1</title></html>"
    with pytest.raises(errors.ClientError) as caught:
        CALLS["sync"](build(base_url=_root(pages), token=TOKEN, retries=0))
    assert not isinstance(caught.value, GatewayError)


@pytest.mark.parametrize(
    "body",
    [
        b'{"success": false, "error": ["not an object"]}',
        b'{"success": false, "error": [[]]}',
        b'{"success": false, "error": []}',
        b'{"name": "AiGatewayError", "error": 7}',
    ],
)
def test_an_odd_gateway_envelope_is_still_the_gateways_refusal(
    pages: _Pages, build: Build, body: bytes
) -> None:
    pages.page = 400, "application/json", body
    with pytest.raises(GatewayError) as caught:
        CALLS["sync"](build(base_url=_root(pages), token=TOKEN, retries=0))
    assert (caught.value.code, caught.value.gateway_code) == (400, None)
    assert "gateway's logs" in caught.value.hint


@pytest.mark.parametrize("page", list(PAGES))
def test_ask_says_cloudflare_answered_and_exits_with_the_gateways_code(
    pages: _Pages,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    page: str,
) -> None:
    status, content_type, body, _, named = PAGES[page]
    pages.page = status, content_type, body.encode()
    monkeypatch.setenv("CF_AIG_BASE_URL", _root(pages))
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    monkeypatch.setenv("CF_AIG_RETRIES", "0")
    code = main(["ask", "hi"])
    out, err = capsys.readouterr()
    assert code == 4  # EXIT_GATEWAY, not EXIT_UPSTREAM (5)
    assert err.startswith("cfgenai: Cloudflare answered")
    assert named in err and "Google answered" not in err
    for canary in CANARIES:
        assert canary not in out + err
