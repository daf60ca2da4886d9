"""Showing secrets without revealing them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, MutableMapping

SECRET_HEADERS = frozenset(  # lowercased
    {"authorization", "cf-aig-authorization", "x-goog-api-key"}
    | {"cf-access-token", "cf-access-client-secret"}
)


def printable(text: str) -> str:
    """``text``, with control characters and undecodable bytes escaped, safe to print."""
    return text if text.isprintable() else ascii(text)[1:-1]


def fingerprint(secret: str) -> str:
    """A short, stable tag for ``secret`` that lets two people compare keys without showing them."""
    # surrogatepass: a value from the OS may hold bytes that are not UTF-8.
    digest = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"<sha256:{digest}>"


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret in it (of 8 characters or more) replaced by its fingerprint."""
    for secret in sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True):
        text = text.replace(secret, fingerprint(secret))
    return text


def mask_header(name: str, value: str) -> str:
    """``value`` with any credential replaced by its fingerprint (a ``Bearer`` prefix is kept)."""
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme, sep, credential = value.partition(" ")
    if sep and scheme.lower() == "bearer":
        return f"{scheme} {fingerprint(credential)}"
    return fingerprint(value)


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with every credential replaced by its fingerprint."""
    return {name: mask_header(name, value) for name, value in headers.items()}


def mask_in_place(headers: MutableMapping[str, str]) -> None:
    """Replaces each credential in ``headers`` (an httpx request's, lowercase) by its fingerprint."""
    for name in SECRET_HEADERS & headers.keys():
        headers[name] = mask_header(name, headers[name])
