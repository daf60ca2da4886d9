"""Settings resolved once into what goes on the wire: a :class:`Plan`, one :class:`Route`
for each route, which every sender adapts; none reads the settings again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from ._checks import COMPAT, KEY_HEADER, VERTEX
from ._rotation import Secret

if TYPE_CHECKING:
    from ._settings import GatewaySettings

Mode = Literal["key", "byok"]

# A credential header: its name, its value with {} for the secret, the secret.
Credential = tuple[str, str, Secret]


@dataclass(frozen=True)
class Route:
    """A route's URL, the public headers its requests carry, the credentials added as each
    leaves (re-reading rotated files), the headers google-genai adds that must not travel,
    and the provider key google-genai is handed (``None``: none travels)."""

    url: str
    headers: Mapping[str, str]
    credentials: tuple[Credential, ...] = ()
    drop: tuple[str, ...] = ()
    key: Secret | None = None

    def credential_headers(self) -> dict[str, str]:
        """The credentials as headers, with what their files hold now."""
        return {name: form.format(secret.value()) for name, form, secret in self.credentials}

    def secrets(self) -> list[str]:
        """Every secret value this route may send (to keep them out of logs and errors)."""
        found = [secret.value() for _, _, secret in self.credentials]
        return found + ([self.key.value()] if self.key else [])


@dataclass(frozen=True)
class Vertex:
    """Vertex AI's project and location, and Google ``credentials`` (a google.auth object,
    ``"adc"`` or a file's path) or a static ``token``; neither in byok mode."""

    project: str
    location: str
    credentials: Any = field(default=None, repr=False)
    token: Secret | None = None


@dataclass(frozen=True)
class Plan:
    """The mode and why, who pays, each route, and what the client is built with. ``live``
    and ``logs`` may instead say why that route cannot be used."""

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
    otel: bool
    vertex: Vertex | None = None


# The header each gateway secret travels in, and its form.
_GATEWAY_SECRETS = {
    "token": ("cf-aig-authorization", "Bearer {}"),
    "access_token": ("cf-access-token", "{}"),
    "access_client_secret": ("CF-Access-Client-Secret", "{}"),
}
_VERTEX_LIVE = (
    f"CF_AIG_PROVIDER={VERTEX}: Cloudflare documents the Live API through AI Gateway for "
    "Google AI Studio only ({root}/google); no Vertex AI route exists, so cfgenai opens "
    "no connection (and sends no credential). Use a google-ai-studio client for Live"
)


def plan(settings: GatewaySettings) -> Plan:
    """What ``settings`` send, route by route."""
    mode, why = decide_mode(settings)
    headers = settings.options.headers()
    if settings.access_client_id:
        headers["CF-Access-Client-Id"] = settings.access_client_id
    gateway = tuple(
        (header, form, secret)
        for name, (header, form) in _GATEWAY_SECRETS.items()
        if (secret := _secret(settings, name)) is not None
    )
    root, url, vertex = settings.gateway_root, provider_url(settings), None
    live: Route | str
    key = _secret(settings, _key_field(settings)) if mode == "key" else None
    # google-genai builds the paths it would build for Google under `{root}/{provider}`. On
    # Vertex AI it sends the token as Authorization (in byok mode a placeholder), never a key.
    if settings.provider == VERTEX:
        drop = (KEY_HEADER,) if mode == "key" else (KEY_HEADER, "Authorization")
        genai, live = Route(url, headers, gateway, drop), _VERTEX_LIVE
        vertex = Vertex(
            str(settings.vertex_project),
            str(settings.vertex_location),
            settings.vertex_credentials if mode == "key" else None,
            key,
        )
    else:  # the key is a credential: upload chunks are sent without the client's headers
        credentials = (*gateway, (KEY_HEADER, "{}", key)) if key else gateway
        genai = Route(url, headers, credentials, () if key else (KEY_HEADER,), key)
        # Cloudflare's realtime WebSockets page: Live at `{root}/google`, cf-aig-authorization
        # on the handshake, the key as the `api_key` query parameter; no Vertex AI route.
        live = Route(f"ws{root.removeprefix('http')}/google", headers, gateway, key=key)
    # OpenAI-compatible: the Google key is the bearer token; in byok mode the gateway token
    # takes its place, which the gateway recognises as its own and swaps for the stored key.
    bearer = key or _secret(settings, "token") or _secret(settings, "access_token")
    return Plan(
        mode=mode,
        why=why,
        pays=_pays(settings, mode),
        genai=genai,
        live=live,
        openai=Route(f"{root}/{COMPAT}", headers, gateway, key=bearer),
        logs=_logs(settings),
        gateway_root=root,
        api_version=settings.api_version,
        timeout=settings.timeout,
        retries=settings.retries,
        otel=settings.otel,
        vertex=vertex,
    )


def decide_mode(settings: GatewaySettings) -> tuple[Mode, str]:
    """The mode requests go in, and why: the one place it is decided."""
    if settings.mode != "auto":
        return settings.mode, f"CF_AIG_MODE={settings.mode}"
    vertex = settings.provider == VERTEX
    if vertex and settings.vertex_credentials is not None:
        return "key", "auto: CF_AIG_VERTEX_CREDENTIALS is set, so cfgenai sends their token"
    holder = _key_field(settings)
    key = getattr(settings, holder)
    variable = "CF_AIG_VERTEX_ACCESS_TOKEN" if vertex else holder.upper()
    if key is not None and key == settings.token:
        return "byok", (
            f"auto: {variable} holds the gateway token (CF_AIG_TOKEN), as in Cloudflare's BYOK "
            "example, so no provider key is sent and the gateway adds its stored key"
        )
    if key is not None:
        return "key", f"auto: {variable} is set"
    if vertex:
        return "byok", (
            "auto: no Vertex AI access token or credentials are set, so the gateway adds "
            "its stored credentials"
        )
    return "byok", "auto: no Google key is set, so the gateway adds its stored key"


def _key_field(settings: GatewaySettings) -> str:
    """The field of the provider key: GOOGLE_API_KEY's when it is set, else GEMINI_API_KEY's
    (google-genai's order); on Vertex AI, the access token's."""
    if settings.provider == VERTEX:
        return "vertex_access_token"
    return "google_api_key" if settings.google_api_key else "gemini_api_key"


def _secret(settings: GatewaySettings, name: str) -> Secret | None:
    value = getattr(settings, name)
    if value is None:
        return None
    return Secret(value.get_secret_value(), settings.secret_files.get(name))


def _logs(settings: GatewaySettings) -> Route | tuple[str, ...]:
    # Cloudflare's REST API, with an API token (never the gateway's own credentials).
    account, gateway = settings.account_id, settings.gateway_id
    if settings.base_url:
        root = _GATEWAY_ROOT.fullmatch(urlsplit(settings.base_url).path)
        account, gateway = (root["account"], root["gateway"]) if root else (None, gateway)
    problems = []
    token = _secret(settings, "api_token")
    if token is None:
        problems.append(
            "CLOUDFLARE_API_TOKEN: not set; the logs and feedback API needs a Cloudflare API "
            "token with AI Gateway Read permission (Edit to give feedback): create one in the "
            "Cloudflare dashboard under My Profile > API Tokens. The gateway token "
            "(CF_AIG_TOKEN) is never sent there"
        )
    if account is None:
        problems.append(
            "CF_AIG_ACCOUNT_ID: not set; the logs API needs the account and gateway ids, "
            "which CF_AIG_BASE_URL does not name: set CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID"
        )
    if problems or token is None:
        return tuple(problems)
    url = f"{settings.api_base_url}/accounts/{account}/ai-gateway/gateways/{gateway}/logs"
    return Route(url, {}, (("authorization", "Bearer {}", token),))


_GATEWAY_ROOT = re.compile(r"/v1/(?P<account>[^/]+)/(?P<gateway>[^/]+)/?")


def _pays(settings: GatewaySettings, mode: str) -> str:
    """Who can pay the provider for a request, in the gateway's order."""
    if mode == "key":
        return (
            "your own credential in the request only (Google bills you); the gateway never "
            "adds a stored key or uses Unified Billing for it"
        )
    alias = settings.options.byok_alias or "default"
    stored = f"the key stored in the gateway under the alias '{alias}'"
    if settings.options.no_wholesale:
        return (
            f"{stored} only (CF_AIG_NO_WHOLESALE=true); without it the gateway answers 400, "
            "never paying from Unified Billing credits"
        )
    return (
        f"{stored}, else Unified Billing (Cloudflare pays from your credits) when the account "
        "has it; set CF_AIG_NO_WHOLESALE=true if you stored a key and never want credits used"
    )


def provider_url(settings: GatewaySettings) -> str:
    """The base URL google-genai gets: the gateway root plus the provider's segment."""
    return f"{settings.gateway_root}/{settings.provider}"


def model_url(settings: GatewaySettings, model: str, method: str = "generateContent") -> str:
    """The URL a call to ``model`` goes to."""
    if settings.provider == VERTEX:
        model = (
            f"projects/{settings.vertex_project}/locations/{settings.vertex_location}/"
            f"publishers/google/models/{model}"
        )
    elif "/" not in model:  # google-genai's prefixes
        model = f"models/{model}"
    return f"{provider_url(settings)}/{settings.api_version}/{model}:{method}"
