"""TLS contexts shared by every client cfgenai builds.

google-genai builds up to four SSL contexts per client (httpx sync and async, aiohttp,
websockets), loading the CA bundle each time: most of the tens of milliseconds a bare client
costs. It reuses contexts it is given, so cfgenai builds them once, exactly as google-genai
would (same trust store choice, SSL_CERT_FILE and SSL_CERT_DIR honoured), and shares them.
Each loads its CA store when it wraps its first connection, so a process that only talks
plain http to a local emulator never reads one, and one CA file named by SSL_CERT_FILE is
read once for every transport.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import ssl
import sys
import threading
from typing import Any

from ._compat import http_backend, uses_truststore


def contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """``(for httpx, for aiohttp and websockets)`` under the current environment."""
    return _contexts(
        http_backend(),
        os.environ.get("SSL_CERT_FILE") or None,
        os.environ.get("SSL_CERT_DIR") or None,
    )


@functools.lru_cache(maxsize=16)
def _contexts(
    backend: str, cafile: str | None, capath: str | None
) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    # certifi's bundle unless SSL_CERT_FILE says otherwise, for httpx, aiohttp and websockets;
    # for httpx2 in google-genai 3.x the system trust store through truststore, unless
    # SSL_CERT_FILE or SSL_CERT_DIR is set.
    bundle = TrustOnFirstUse(cafile, capath, certifi=cafile is None)
    if not uses_truststore(backend) or cafile:
        return bundle, bundle  # the same CA file and folder: one context, loaded once
    if capath:
        return TrustOnFirstUse(None, capath), bundle
    if not _system_store_can_wait():
        import httpx2 as module

        return module.create_ssl_context(), bundle
    return TrustOnFirstUse(None, None, system=True), bundle


class TrustOnFirstUse(ssl.SSLContext):
    """A client context set up as ``ssl.create_default_context(cafile=, capath=)`` sets it
    up (or, with ``system``, as httpx2's default context on Linux), whose CA store loads
    when it first wraps a connection (or is asked about it), not when it is made."""

    _load_args: tuple[str | None, str | None, bool, bool] | None  # None once loaded
    _lock: threading.Lock

    def __new__(
        cls, cafile: str | None, capath: str | None, *, certifi: bool = False, system: bool = False
    ) -> TrustOnFirstUse:
        context = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        if not system:  # what create_default_context adds to a PROTOCOL_TLS_CLIENT context
            if sys.version_info >= (3, 13):
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | ssl.VERIFY_X509_STRICT
            keylog = os.environ.get("SSLKEYLOGFILE")
            if keylog and not sys.flags.ignore_environment:
                context.keylog_filename = keylog
        context._load_args = (cafile, capath, certifi, system)
        context._lock = threading.Lock()
        return context

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # SSLContext takes its protocol in __new__

    def _load_trust(self) -> None:
        if self._load_args is None:
            return
        with self._lock:
            if self._load_args is None:
                return
            cafile, capath, from_certifi, system = self._load_args
            if from_certifi:
                import certifi

                cafile = certifi.where()
            elif system:
                cafile, capath = _system_paths()
            if cafile or capath:
                self.load_verify_locations(cafile, capath)
            self._load_args = None

    # Every connection an SSLContext makes goes through these two (wrap_socket, wrap_bio,
    # asyncio's and anyio's TLS all call them), so no handshake can run before the load.
    def _wrap_socket(self, *args: Any, **kwargs: Any) -> Any:
        self._load_trust()
        return super()._wrap_socket(*args, **kwargs)  # type: ignore[misc]

    def _wrap_bio(self, *args: Any, **kwargs: Any) -> Any:
        self._load_trust()
        return super()._wrap_bio(*args, **kwargs)  # type: ignore[misc]

    def get_ca_certs(self, binary_form: bool = False) -> Any:
        self._load_trust()
        return super().get_ca_certs(binary_form)

    def cert_store_stats(self) -> dict[str, int]:
        self._load_trust()
        return super().cert_store_stats()


def _system_store_can_wait() -> bool:
    # On Windows and macOS the OS verifies (truststore): nothing to defer. On Linux the store
    # is found as httpcore2 finds it, with its list of well-known bundles; should that list
    # move, httpx2's own context is built at once instead.
    if platform.system() in ("Windows", "Darwin"):
        return False
    try:
        from httpcore2._ssl import CA_FILE_CANDIDATES  # noqa: F401
    except ImportError:
        return False
    return True


def _system_paths() -> tuple[str | None, str | None]:
    # httpcore2's default_ssl_context on Linux (httpx2's default, google-genai 3.x): OpenSSL's
    # compiled-in paths, never SSL_CERT_FILE or SSL_CERT_DIR, else a well-known bundle.
    from httpcore2._ssl import CA_FILE_CANDIDATES

    paths = ssl.get_default_verify_paths()
    cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
    capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
    hashed = re.compile(r"[0-9a-fA-F]{8}\.\d")
    if capath and not cafile and not any(hashed.fullmatch(f) for f in os.listdir(capath)):
        capath = None
    if not cafile and not capath:
        cafile = next(filter(os.path.isfile, CA_FILE_CANDIDATES), None)
    return cafile, capath
