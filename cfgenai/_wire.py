"""What goes on the wire for each route: the URL, the headers and the provider key, from settings.

The one place that turns settings into request headers. The transports (``_transport``) only
take off what google-genai insists on adding (its ``x-goog-api-key`` where no key may travel)
and add what changes per request (the OpenTelemetry span's ids).
"""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import COMPAT, PROVIDER, VERTEX
from ._settings import GatewaySettings


@dataclass(frozen=True)
class Route:
    """A route's base ``url``, the ``headers`` every request on it carries, and ``key``: the
    provider credential the SDK must be handed to send (``None``: no provider key travels)."""

    url: str
    headers: dict[str, str]
    key: str | None


def gateway_headers(settings: GatewaySettings) -> dict[str, str]:
    """What every request carries for the gateway itself: its token, Cloudflare Access
    credentials and the client-wide gateway options. Holds secrets: never log it."""
    headers = settings.options.headers()
    for name, value in (
        ("cf-aig-authorization", settings.token and f"Bearer {settings.token.get_secret_value()}"),
        ("cf-access-token", settings.access_token and settings.access_token.get_secret_value()),
        ("CF-Access-Client-Id", settings.access_client_id),
        (
            "CF-Access-Client-Secret",
            settings.access_client_secret and settings.access_client_secret.get_secret_value(),
        ),
    ):
        if value:
            headers[name] = value
    return headers


def genai(settings: GatewaySettings) -> Route:
    """google-genai's route: the provider's base URL (for Vertex AI with the version, project
    and location: google-genai adds the resource path). In key mode the Gemini API's key goes
    to the SDK, which sends it as ``x-goog-api-key``; Vertex AI's access token is a header."""
    headers = gateway_headers(settings)
    key = settings.provider_key if settings.resolved_mode == "key" else None
    if settings.provider == VERTEX:
        if key is not None:
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        return Route(provider_url(settings), headers, None)
    return Route(provider_url(settings), headers, key.get_secret_value() if key else None)


def openai(settings: GatewaySettings) -> Route:
    """The OpenAI-compatible route. Key mode sends the Google key as OpenAI's bearer token; in
    byok mode the gateway token takes its place, which the gateway recognises as its own and
    replaces with the stored key."""
    if settings.resolved_mode == "key":
        credential = settings.provider_key
    else:
        credential = settings.token or settings.access_token
    key = credential.get_secret_value() if credential is not None else ""
    return Route(f"{settings.gateway_root}/{COMPAT}", gateway_headers(settings), key)


def provider_url(settings: GatewaySettings) -> str:
    """The base URL google-genai gets: the gateway root plus the provider's segment (and, for
    Vertex AI, the version, project and location)."""
    if settings.provider == VERTEX:
        return (
            f"{settings.gateway_root}/{VERTEX}/{settings.api_version}/projects/"
            f"{settings.vertex_project}/locations/{settings.vertex_location}"
        )
    return f"{settings.gateway_root}/{PROVIDER}"


def model_url(settings: GatewaySettings, model: str, method: str = "generateContent") -> str:
    """The URL a call to ``model`` goes to."""
    if settings.provider == VERTEX:
        return f"{provider_url(settings)}/publishers/google/models/{model}:{method}"
    path = model if "/" in model else f"models/{model}"  # google-genai's prefixes
    return f"{provider_url(settings)}/{settings.api_version}/{path}:{method}"
