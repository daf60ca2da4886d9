"""What goes on the wire for each route: the URL, the headers and the provider key, from settings.

The one place that turns settings into request headers. The transports (``_transport``) only
take off what google-genai insists on adding (its ``x-goog-api-key`` where no key may travel)
and add what changes per request (the OpenTelemetry span's ids).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._checks import COMPAT, KEY_HEADER, VERTEX
from ._settings import GatewaySettings

if TYPE_CHECKING:
    from ._transport import Rotating


@dataclass(frozen=True)
class Route:
    """A route's base ``url``, the ``headers`` every request on it carries, and ``key``: the
    provider credential the SDK must be handed to send (``None``: no provider key travels).

    ``drop`` names the credential headers google-genai adds that must not travel, and
    ``credentials`` are the headers a request needs when google-genai builds it without the
    client's headers (a resumable upload's chunks)."""

    url: str
    headers: dict[str, str]
    key: str | None
    drop: tuple[str, ...] = ()
    credentials: dict[str, str] = field(default_factory=dict)
    rotating: tuple[Rotating, ...] = ()


# The header each secret travels in on the gateway's routes, and its form.
_SECRET_HEADERS = {
    "token": ("cf-aig-authorization", "Bearer {}"),
    "access_token": ("cf-access-token", "{}"),
    "access_client_secret": ("CF-Access-Client-Secret", "{}"),
}


def rotating(settings: GatewaySettings, key_header: str | None = None) -> tuple[Rotating, ...]:
    """The headers whose secret came from a file; with ``key_header``, the Google key's too."""
    headers = dict(_SECRET_HEADERS)
    if key_header is not None:
        used = "google_api_key" if settings.google_api_key else "gemini_api_key"
        headers[used] = (key_header, "{}")
    return tuple(
        (header, form, settings._files[name], getattr(settings, name).get_secret_value())
        for name, (header, form) in headers.items()
        if name in settings._files
    )


def public_headers(settings: GatewaySettings) -> dict[str, str]:
    """The gateway options and the Access client id: no secret."""
    headers = settings.options.headers()
    if settings.access_client_id:
        headers["CF-Access-Client-Id"] = settings.access_client_id
    return headers


def credentials(settings: GatewaySettings) -> dict[str, str]:
    """The gateway token and the Cloudflare Access secrets, as headers."""
    return {
        header: form.format(value.get_secret_value())
        for name, (header, form) in _SECRET_HEADERS.items()
        if (value := getattr(settings, name)) is not None
    }


def genai(settings: GatewaySettings) -> Route:
    """google-genai's route: ``{root}/{provider}``, under which google-genai builds the same
    paths as against Google. Its ``headers`` hold no secret (they end up in options that
    frameworks print and serialise): the gateway's credentials are the transport's to add.
    In key mode the Gemini API's key goes to the SDK, which sends it as ``x-goog-api-key``;
    on Vertex AI the SDK sends the access token of the credentials it is given
    (``Authorization``), and never a Google API key."""
    headers, secrets, url = public_headers(settings), credentials(settings), provider_url(settings)
    if settings.provider == VERTEX:
        drop = (KEY_HEADER,) if settings.resolved_mode == "key" else (KEY_HEADER, "Authorization")
        return Route(url, headers, None, drop, secrets, rotating(settings))
    if settings.resolved_mode == "byok":
        return Route(url, headers, None, (KEY_HEADER,), secrets, rotating(settings))
    assert settings.api_key is not None
    key = settings.api_key.get_secret_value()
    rotated = rotating(settings, KEY_HEADER)
    return Route(url, headers, key, (), {**secrets, KEY_HEADER: key}, rotated)


def live(settings: GatewaySettings) -> Route:
    """The Live API's WebSocket route, as Cloudflare documents it: ``{root}/google`` (``ws``
    for a plain-http loopback root, else ``wss``), ``cf-aig-authorization`` on the handshake,
    and in key mode the Google key as the ``api_key`` query parameter (``key``); none in byok
    mode. Cloudflare documents no Vertex AI route for it: see :func:`live_refusal`."""
    url = f"{settings.gateway_root}/google".replace("http", "ws", 1)  # https: wss, http: ws
    headers, secrets = public_headers(settings), credentials(settings)
    if settings.resolved_mode == "byok":
        return Route(url, headers, None, credentials=secrets, rotating=rotating(settings))
    assert settings.api_key is not None
    key, rotated = settings.api_key.get_secret_value(), rotating(settings, "api_key")
    return Route(url, headers, key, credentials=secrets, rotating=rotated)


def live_refusal(settings: GatewaySettings) -> str | None:
    """Why a Live session cannot go through the gateway with these settings, or None."""
    if settings.provider != VERTEX:
        return None
    return (
        f"CF_AIG_PROVIDER={VERTEX}: Cloudflare documents the Live API through AI Gateway for "
        "Google AI Studio only ({root}/google); no Vertex AI route exists, so cfgenai opens "
        "no connection (and sends no credential). Use a google-ai-studio client for Live"
    )


def openai(settings: GatewaySettings) -> Route:
    """The OpenAI-compatible route, whose headers hold the gateway's credentials (never log
    them). Key mode sends the Google key as OpenAI's bearer token; in byok mode the gateway
    token takes its place, which the gateway recognises as its own and replaces with the
    stored key."""
    if settings.resolved_mode == "key":
        credential = settings.provider_key
    else:
        credential = settings.token or settings.access_token
    key = credential.get_secret_value() if credential is not None else ""
    headers = {**public_headers(settings), **credentials(settings)}
    return Route(f"{settings.gateway_root}/{COMPAT}", headers, key)


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
