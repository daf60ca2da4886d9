"""The settings resolved once into a ``Plan`` of what goes on the wire, for every sender."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import __version__
from ._checks import BEARER, COMPAT, KEY_HEADER, VERTEX, is_loopback_url
from ._errors import ConfigError
from ._rotation import Secret
from ._settings import GatewaySettings, Mode, decide_mode, key_field

USER_AGENT = f"cfgenai/{__version__}"  # beside each library's own, so logs can tell cfgenai's


@dataclass(frozen=True)
class Route:
    """A route's URL, public headers, credentials (rotated files re-read), the headers that must
    not travel, the key google-genai is handed, and whether its host is this machine (no proxy)."""

    url: str
    headers: Mapping[str, str]
    credentials: tuple[tuple[str, str, Secret], ...] = ()  # header, form ({}: secret), secret
    drop: tuple[str, ...] = ()
    key: Secret | None = None
    direct: bool = False

    def credential_headers(self) -> dict[str, str]:
        """The credentials as headers, with what their files hold now."""
        return {name: form.format(secret.value()) for name, form, secret in self.credentials}

    def leaving(self) -> None:
        """Raises ``ConfigError`` while the pytest plugin keeps tests on this machine."""
        guard = None if self.direct else sys.modules.get("cfgenai.pytest_plugin")  # pytest's
        if guard is not None and (why := guard.refusal(self.url)):
            raise ConfigError([why])

    def secrets(self) -> list[str]:
        """Every secret value this route may send."""
        return [s.value() for *_, s in self.credentials] + ([self.key.value()] if self.key else [])


@dataclass(frozen=True)
class Vertex:
    """Vertex AI's project, location, and ``credentials`` (google.auth, "adc", a path) if any."""

    project: str
    location: str
    credentials: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Plan:
    """The mode and why, who pays, each route (``live``, ``logs``: or why not), client options."""

    mode: Mode
    why: str
    pays: str
    genai: Route
    live: Route | str
    openai: Route
    logs: Route | tuple[str, ...]
    gateway_root: str
    api_version: str
    timeout: float
    retries: int
    retry_delay: float
    otel: bool
    vertex: Vertex | None = None


_GATEWAY_SECRETS = {  # the header each gateway secret travels in, and its form
    "token": ("cf-aig-authorization", "Bearer {}"),
    "access_token": ("cf-access-token", "{}"),
    "access_client_secret": ("CF-Access-Client-Secret", "{}"),
}
_AS_SET = ("api_version", "timeout", "retries", "retry_delay", "otel")  # the settings' own values
_GATEWAY_ROOT = re.compile(r"/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/?")


def plan(settings: GatewaySettings) -> Plan:
    """What ``settings`` send, route by route."""
    mode, why = decide_mode(settings)
    key = _secret(settings, key_field(settings)) if mode == "key" else None
    found = {name: _secret(settings, name) for name in _GATEWAY_SECRETS}
    gateway = tuple((*_GATEWAY_SECRETS[n], s) for n, s in found.items() if s is not None)
    headers = settings.options.headers()
    if settings.access_client_id:
        headers["CF-Access-Client-Id"] = settings.access_client_id
    root, url, vertex = settings.gateway_root, provider_url(settings), None
    live: Route | str = (
        f"CF_AIG_PROVIDER={VERTEX}: Cloudflare documents Live for Google AI Studio only ({{root}}/"
        "google), no Vertex AI route, so cfgenai sent nothing: use a google-ai-studio client for Live"
    )
    direct = is_loopback_url(root)
    if settings.provider == VERTEX:  # the token goes as Authorization (in byok a placeholder)
        drop = (KEY_HEADER,) if mode == "key" else (KEY_HEADER, "Authorization")
        genai = Route(url, headers, gateway, drop, key, direct)
        creds = settings.vertex_credentials if mode == "key" else None
        vertex = Vertex(str(settings.vertex_project), str(settings.vertex_location), creds)
    else:  # the key is a credential: upload chunks are sent without the client's headers
        credentials = (*gateway, (KEY_HEADER, "{}", key)) if key else gateway
        genai = Route(url, headers, credentials, () if key else (KEY_HEADER,), key, direct)
        # Cloudflare's realtime WebSockets page: Live at `{root}/google`, the key as `?api_key=`.
        wss = f"ws{root.removeprefix('http')}/google"
        live = Route(wss, headers, gateway, (KEY_HEADER,), key, direct)  # no key header
    # OpenAI-compatible: the Google key is the bearer token; in byok mode the gateway token
    # takes its place, which the gateway recognises as its own and swaps for the stored key.
    bearer = key or found["token"] or found["access_token"]
    return Plan(
        mode=mode,
        why=why,
        pays=_pays(settings, mode),
        genai=genai,
        live=live,
        openai=Route(f"{root}/{COMPAT}", headers, gateway, (), bearer, direct),
        logs=_logs(settings),
        gateway_root=root,
        vertex=vertex,
        **{name: getattr(settings, name) for name in _AS_SET},
    )


def _secret(settings: GatewaySettings, name: str) -> Secret | None:
    if (value := getattr(settings, name)) is None:
        return None
    bearer = BEARER in type(settings).model_fields[name].metadata
    return Secret(value.get_secret_value(), settings.secret_files.get(name), bearer)


def _logs(settings: GatewaySettings) -> Route | tuple[str, ...]:
    # Cloudflare's REST API, with an API token (never the gateway's own credentials).
    account, gateway = settings.account_id, settings.gateway_id
    if settings.base_url:
        root = _GATEWAY_ROOT.fullmatch(urlsplit(settings.base_url).path)
        account, gateway = (root["account"], root["gateway"]) if root else (None, gateway)
    problems = []
    if (token := _secret(settings, "api_token")) is None:
        problems.append(
            "CLOUDFLARE_API_TOKEN: not set; the logs and feedback API needs an API token with AI "
            "Gateway Read (Edit for feedback), made in My Profile > API Tokens (not CF_AIG_TOKEN)"
        )
    if account is None:
        problems.append(
            "CF_AIG_ACCOUNT_ID: not set; the logs API needs the account and gateway ids, "
            "which CF_AIG_BASE_URL does not name: set CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID"
        )
    if problems or token is None:
        return tuple(problems)
    url = f"{settings.api_base_url}/accounts/{account}/ai-gateway/gateways/{gateway}/logs"
    return Route(url, {}, (("authorization", "Bearer {}", token),), direct=is_loopback_url(url))


def _pays(settings: GatewaySettings, mode: str) -> str:
    # Who can pay the provider for a request, in the gateway's order.
    if mode == "key":
        return "your own credential in the request only: Google bills you, never a stored key"
    alias = settings.options.byok_alias or "default"
    stored = f"the key stored in the gateway under the alias '{alias}'"
    if settings.options.no_wholesale:
        return f"{stored} only (CF_AIG_NO_WHOLESALE=true): without it the gateway answers 400"
    return f"{stored}, else Unified Billing (set CF_AIG_NO_WHOLESALE=true to never use credits)"


def provider_url(settings: GatewaySettings) -> str:
    """The base URL google-genai gets: the gateway root plus the provider's segment."""
    return f"{settings.gateway_root}/{settings.provider}"


def model_url(settings: GatewaySettings, model: str) -> str:
    """The URL a ``generateContent`` call to ``model`` goes to."""
    if settings.provider == VERTEX:
        location = f"projects/{settings.vertex_project}/locations/{settings.vertex_location}"
        model = f"{location}/publishers/google/models/{model}"
    elif "/" not in model:  # google-genai's prefixes
        model = f"models/{model}"
    return f"{provider_url(settings)}/{settings.api_version}/{model}:generateContent"
