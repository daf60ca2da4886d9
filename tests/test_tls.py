"""Shared TLS contexts verify exactly as google-genai's own: an untrusted server is refused."""

from __future__ import annotations

import asyncio
import datetime
import http.server
import importlib.util
import ipaddress
import json
import platform
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import certifi
import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google import genai
from google.genai import _api_client, types

from cfgenai import GatewayUnreachable, _compat, _transport, client_kwargs

from .conftest import MODEL, TOKEN, Build, sdk_http


class _Gemini(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        body = json.dumps(
            {"candidates": [{"content": {"parts": [{"text": "over TLS"}], "role": "model"}}]}
        )
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate nobody trusts."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Gemini)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_file
    server.shutdown()
    server.server_close()


def _ask_async(client: genai.Client) -> str:
    async def call() -> str:
        async with client.aio as aio:
            return (await aio.models.generate_content(model=MODEL, contents="hi")).text or ""

    return asyncio.run(call())


def _ask(client: genai.Client, transport: str) -> str:
    if transport == "sync":
        return client.models.generate_content(model=MODEL, contents="hi").text or ""
    return _ask_async(client)


def test_an_untrusted_certificate_is_refused_like_a_bare_client_does(
    tls_server: tuple[str, Path], build: Build
) -> None:
    root, _ = tls_server
    # One attempt each: without retry options a bare client's aiohttp path sleeps 1 to 10 s
    # and tries again after a connection error (google-genai 3.x), which proves nothing here.
    bare = genai.Client(
        api_key="k",
        http_options=types.HttpOptions(
            base_url=f"{root}/v1/a/g/google-ai-studio",
            retry_options=types.HttpRetryOptions(attempts=1),
        ),
    )
    ours = build(base_url=f"{root}/v1/a/g", token=TOKEN, retries=0)
    for client in (bare, ours):
        with pytest.raises(sdk_http().ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.models.generate_content(model=MODEL, contents="hi")
        with pytest.raises(
            (aiohttp.ClientConnectorCertificateError, sdk_http().ConnectError),
            match="CERTIFICATE_VERIFY_FAILED",
        ):
            _ask_async(client)
    bare.close()


@pytest.mark.parametrize("transport", ["sync", "async-httpx", "async-aiohttp"])
def test_an_untrusted_certificate_says_the_tls_handshake_failed(
    tls_server: tuple[str, Path], build: Build, monkeypatch: pytest.MonkeyPatch, transport: str
) -> None:
    root, _ = tls_server
    if transport == "async-aiohttp" and not _compat.async_over_aiohttp():
        pytest.skip("google-genai 2.x: cfgenai sends async requests with httpx")
    if transport == "async-httpx":  # google-genai sends async requests with httpx then
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    client = build(base_url=f"{root}/v1/a/g", token=TOKEN, retries=1, retry_delay=0)
    where = root.removeprefix("https://")
    with pytest.raises(GatewayUnreachable, match=f"at {where}: the TLS handshake failed") as caught:
        _ask(client, transport)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value) and "; 2 attempts" in str(caught.value)


def test_ssl_cert_file_is_honoured(
    tls_server: tuple[str, Path], build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    client = build(base_url=f"{root}/v1/a/g", token=TOKEN, retries=0)
    assert client.models.generate_content(model=MODEL, contents="hi").text == "over TLS"
    assert _ask_async(client) == "over TLS"


@pytest.mark.parametrize("provider", ["google-ai-studio", "google-vertex-ai"])
def test_ssl_cert_file_is_honoured_by_client_kwargs_and_vertex_ai(
    tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    # Their sync requests go through cfgenai's transport, which verifies as google-genai would.
    root, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    settings = {"base_url": f"{root}/v1/a/g", "token": TOKEN, "retries": 0, "provider": provider}
    if provider == "google-vertex-ai":
        settings |= {"vertex_access_token": "t", "vertex_project": "p", "vertex_location": "l"}
    else:
        settings["google_api_key"] = "k"
    client = genai.Client(**client_kwargs(**settings))
    assert _ask(client, "sync") == "over TLS"
    client.close()


def test_ssl_cert_dir_is_honoured(
    tls_server: tuple[str, Path],
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    root, cert_file = tls_server
    folder = tmp_path / "certs"
    folder.mkdir()
    # OpenSSL finds a CA in a folder by the hash of its subject name.
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(cert_file)],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (folder / f"{subject_hash}.0").write_bytes(cert_file.read_bytes())
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    client = build(base_url=f"{root}/v1/a/g", token=TOKEN, retries=0)
    assert client.models.generate_content(model=MODEL, contents="hi").text == "over TLS"
    assert _ask_async(client) == "over TLS"


# What decides how a client context verifies, besides its CA store.
_SETTINGS = (
    "protocol",
    "options",
    "verify_mode",
    "verify_flags",
    "check_hostname",
    "minimum_version",
    "maximum_version",
    "post_handshake_auth",
    "keylog_filename",
    "hostname_checks_common_name",
)


def _verifies_as(ours: ssl.SSLContext, theirs: ssl.SSLContext) -> None:
    for name in _SETTINGS:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.get_ciphers() == theirs.get_ciphers()
    assert ours.get_ca_certs(binary_form=True) == theirs.get_ca_certs(binary_form=True)
    assert ours.cert_store_stats() == theirs.cert_store_stats()


def test_the_shared_contexts_verify_as_google_genais_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for_httpx, for_the_rest = _transport.tls_contexts("https://gw.example/v1/a/g")
    _verifies_as(for_the_rest, ssl.create_default_context(cafile=certifi.where()))
    if _compat.uses_truststore(_compat.http_backend()) and platform.system() == "Linux":
        _verifies_as(for_httpx, httpx2.create_ssl_context())
    assert _transport.tls_contexts("https://gw.example/v1/a/g") == (
        for_httpx,
        for_the_rest,
    )  # made once


def test_a_plain_http_gateway_gets_a_context_that_loads_and_trusts_no_ca() -> None:
    for context in _transport.tls_contexts("http://127.0.0.1:8787/v1/a/g"):
        assert context.cert_store_stats()["x509_ca"] == 0
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_one_ca_file_is_one_context_for_every_transport(
    monkeypatch: pytest.MonkeyPatch, tls_server: tuple[str, Path]
) -> None:
    _, cert_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    for backend in ("", "httpx", "httpx2"):
        if backend and importlib.util.find_spec(backend) is None:
            continue  # google-genai refuses a backend that is not installed
        monkeypatch.setenv("GOOGLE_GENAI_HTTP_CLIENT", backend)
        for_httpx, for_the_rest = _transport.tls_contexts("https://gw.example/v1/a/g")
        assert for_httpx is for_the_rest
