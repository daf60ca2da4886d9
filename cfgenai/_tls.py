"""TLS contexts shared by every client cfgenai builds.

google-genai builds up to four SSL contexts per client (httpx sync and async, aiohttp,
websockets), loading the CA bundle each time: most of the tens of milliseconds a bare client
costs. It reuses contexts it is given, so cfgenai builds them once, exactly as google-genai
would (same trust store choice, SSL_CERT_FILE and SSL_CERT_DIR honoured), and shares them.
"""

from __future__ import annotations

import functools
import os
import ssl

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
    import certifi

    # certifi's bundle unless SSL_CERT_FILE says otherwise, for httpx, aiohttp and websockets;
    # for httpx2 in google-genai 3.x the system trust store through truststore, unless
    # SSL_CERT_FILE or SSL_CERT_DIR is set.
    bundle = ssl.create_default_context(cafile=cafile or certifi.where(), capath=capath)
    if not uses_truststore(backend):
        return bundle, bundle
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath), bundle
    import httpx2 as module

    return module.create_ssl_context(), bundle
