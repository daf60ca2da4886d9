"""Google credentials for Vertex AI (an access token, Application Default Credentials, a file or
a ``google.auth`` object), one per source for all its clients, refreshed once at a time."""

from __future__ import annotations

import importlib
import json
import os
import threading
import weakref
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import google.auth
import google.auth.exceptions
from google.auth.credentials import Credentials, with_scopes_if_required

from . import _rotation
from ._errors import ConfigError
from ._google_errors import TokenRefreshError
from ._rotation import Secret
from ._secrets import printable

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
VARIABLE = "CF_AIG_VERTEX_CREDENTIALS"
FIX = "point it at a credentials JSON file, or set it to adc"
# Per file type: what it holds, and its own google-auth loader (the generic one is deprecated);
# in a loader's module, {} is an external account's source, {kind} the type.
_TYPES = {
    "service_account": ("service account key", "oauth2.service_account:from_service_account_info"),
    "authorized_user": ("user credentials", "oauth2.credentials:from_authorized_user_info"),
    "external_account": ("workload identity federation", "auth.{}:from_info"),
    "external_account_authorized_user": ("workforce identity federation", "auth.{kind}:from_info"),
}
# Where google-auth looks for Application Default Credentials.
_ADC = ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GCE_METADATA_HOST")
# What google-auth's modules hold, for people.
_KINDS = {
    "service_account": "service account",
    "oauth2.credentials": "user credentials",
    "impersonated_credentials": "impersonated service account",
    "compute_engine.credentials": "metadata server",
} | dict.fromkeys(("identity_pool", "aws", "pluggable"), "external account")


class AccessToken(Credentials):
    """One access token, never refreshed (no expiry: never expired): ``CF_AIG_VERTEX_ACCESS_TOKEN``
    (as its file holds it now), or byok mode's placeholder, which never leaves."""

    def __init__(self, secret: Secret) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._secret = secret

    @property
    def token(self) -> str:
        return self._secret.value()

    @token.setter
    def token(self, value: Any) -> None:
        pass  # google-auth's constructor sets it to None

    def refresh(self, request: Any) -> None:
        raise TokenRefreshError(
            "CF_AIG_VERTEX_ACCESS_TOKEN holds a token that cannot be refreshed: set a fresh one, "
            f"or set {VARIABLE} to adc or a credentials file"
        )


class SharedRefresh(Credentials):
    """Credentials whose refresh runs once at a time: a caller that waited finds the token
    another one fetched. Loaded from ``path``, they are loaded again when the file changed."""

    def __init__(self, inner: Credentials, path: Path | None = None, signature: Any = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._inner, self._path = inner, path
        self._signature = signature  # the file before it was loaded, or warned about (once)
        self.token, self.expiry = inner.token, inner.expiry

    @property
    def quota_project_id(self) -> str | None:
        return getattr(self._inner, "quota_project_id", None)

    def refresh(self, request: Any) -> None:
        with _refresh_lock:
            if self.valid:
                return  # refreshed while this caller waited
            if self._path and (now := _rotation.signature(self._path)) != self._signature:
                self._signature = now
                try:
                    self._inner = _load(self._path)
                except ConfigError as exc:  # being written, or broken: the last ones stay
                    _rotation.log.warning(
                        "%s; cfgenai keeps the credentials it loaded before", exc.problems[0]
                    )
            try:
                self._inner.refresh(request)  # type: ignore[no-untyped-call]
            except google.auth.exceptions.GoogleAuthError as exc:
                raise TokenRefreshError(_refresh_failure(self._inner, exc)) from None
            self.token, self.expiry = self._inner.token, self._inner.expiry

    def describe(self) -> str:
        """What these credentials are, never a secret (for ``cfgenai doctor``)."""
        module = type(self._inner).__module__
        kind = next((k for m, k in _KINDS.items() if module.endswith(m)), "credentials")
        email = getattr(self._inner, "service_account_email", None)
        who = f" ({email})" if isinstance(email, str) and "@" in email else ""
        return kind + who + (f" from {self._path}" if self._path else "")

    def __repr__(self) -> str:
        return f"SharedRefresh({self.describe()})"


# By source: how it was when loaded, and the credentials every client built since shares.
_LOADED: dict[str, tuple[Any, SharedRefresh]] = {}
_GIVEN: weakref.WeakKeyDictionary[Any, SharedRefresh] = weakref.WeakKeyDictionary()
_load_lock = threading.Lock()
# One for every source, which keeps the credentials picklable: refreshes are rare and short.
_refresh_lock = threading.Lock()


def shared(source: Any) -> SharedRefresh:
    """The credentials for ``source``: ``"adc"``, a credentials file's path, or a
    ``google.auth`` credentials object; raises ``ConfigError`` naming the fix."""
    with _load_lock:
        if isinstance(source, Credentials):
            if source not in _GIVEN:
                scoped = with_scopes_if_required(source, SCOPES)  # type: ignore[no-untyped-call]
                _GIVEN[source] = SharedRefresh(scoped)
            return _GIVEN[source]
        path = None if source == "adc" else Path(source)
        changed = tuple(map(os.environ.get, _ADC)) if path is None else _rotation.signature(path)
        if source not in _LOADED or _LOADED[source][0] != changed:
            loaded = _adc() if path is None else _load(path)
            _LOADED[source] = changed, SharedRefresh(loaded, path, changed)
        return _LOADED[source][1]


def _load(path: Path) -> Credentials:
    where = f"{VARIABLE}: {printable(str(path))}"
    try:  # read as secret files are: a regular file, up to 64 KiB, without blocking
        info = json.loads(_rotation.load(path, FIX)[1])
    except _rotation.Unusable as exc:
        raise ConfigError([f"{where} {exc}"]) from None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested too deeply
        raise ConfigError([f"{where} is not JSON; download the key again"]) from None
    kind = info.get("type") if isinstance(info, dict) else None
    if kind not in _TYPES:
        known = ", ".join(f"{t} ({what})" for t, (what, _) in _TYPES.items())
        why = f"holds credentials of type {kind!r}, which cfgenai cannot load"
        raise ConfigError([f"{where} {why}; the types are {known}"])
    what, loader = _TYPES[kind]
    source = info.get("credential_source")  # an external account's says which kind it is
    source = source if isinstance(source, dict) else {}
    aws = str(source.get("environment_id", "")).startswith("aws")
    external = "aws" if aws else "pluggable" if "executable" in source else "identity_pool"
    module, _, method = loader.format(external, kind=kind).partition(":")
    try:
        make = getattr(importlib.import_module(f"google.{module}").Credentials, method)
        return cast(Credentials, make(info, scopes=SCOPES))
    except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as exc:
        refused = f"{where} is a {what} file that google-auth refused: {_reason(exc)}"
        raise ConfigError([refused]) from None


def _adc() -> Credentials:
    try:
        return google.auth.default(scopes=SCOPES)[0]
    except google.auth.exceptions.DefaultCredentialsError:
        named, config, host = map(os.environ.get, _ADC)
        gcloud = Path(config or Path.home() / ".config" / "gcloud")
        adc_file = gcloud / "application_default_credentials.json"
        problem = (
            f"{VARIABLE}=adc: google-auth found no Application Default Credentials at "
            f"GOOGLE_APPLICATION_CREDENTIALS ({named or 'unset'}), gcloud's file {adc_file} "
            f"({'found' if adc_file.is_file() else 'missing'}) or the metadata server "
            f"{host or 'metadata.google.internal'} (not reachable): run gcloud auth "
            "application-default login, set GOOGLE_APPLICATION_CREDENTIALS, or set "
            f"{VARIABLE} to a key file"
        )
        raise ConfigError([problem]) from None


def _reason(exc: Exception) -> str:
    """google-auth's own summary, its first line: a response body after it is left out."""
    reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else ""
    return reason.splitlines()[0][:200] if reason else type(exc).__name__


def _refresh_failure(credentials: Any, exc: Exception) -> str:
    uri = getattr(credentials, "_token_uri", None) or getattr(credentials, "token_uri", None)
    host = urlsplit(uri).hostname if isinstance(uri, str) else None
    where = f"the token endpoint {host}" if host else "Google's token service"
    return (
        f"could not get a Google access token for Vertex AI from {where}: {_reason(exc)}; "
        f"check {VARIABLE} (the key may be revoked or the endpoint unreachable)"
    )
