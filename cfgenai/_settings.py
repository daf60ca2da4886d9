"""GatewaySettings: every setting, from arguments > environment > secret files > .env > defaults."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from . import _checks as check
from . import _sources
from ._checks import CLOUDFLARE_HOST, FIXES, VERTEX
from ._errors import ConfigError, problems, unknown_names
from ._options import CONFIG, OPTION_HEADERS, PER_REQUEST_ONLY, GatewayOptions
from ._secrets import mask
from ._sources import Reading, Source, read

# Client-side retries apply to these statuses (google-genai's HttpRetryOptions).
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
NOT_SET = ": not set;"
Mode = Literal["key", "byok"]


def _named(default: Any, *variables: str) -> Any:
    """A field read from ``variables``, the first one winning."""
    return Field(default, validation_alias=AliasChoices(*variables))


class GatewaySettings(BaseSettings):
    """How to reach Gemini through Cloudflare AI Gateway, and the gateway options to send.

    ``GatewaySettings()`` reads the environment, secret files and the ``.env`` file named by
    ``CF_AIG_ENV_FILE`` (default ``.env``; empty: none); keyword arguments (by field or gateway
    option name) override them. Every problem is raised at once in one ``ConfigError``."""

    # Errors name the field, which FIXES and variable() know.
    model_config = CONFIG | SettingsConfigDict(extra="ignore", loc_by_alias=False)

    account_id: check.AccountId = _named(None, "CF_AIG_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID")
    """Cloudflare account id, 32 hex characters; not needed when CF_AIG_BASE_URL is set."""
    gateway_id: check.GatewayId = _named("default", "CF_AIG_GATEWAY_ID", "CLOUDFLARE_GATEWAY_ID")
    """AI Gateway id: 1 to 64 lowercase letters, digits and hyphens."""
    token: check.BearerSecret = _named(None, "CF_AIG_TOKEN", "CLOUDFLARE_GATEWAY_TOKEN")
    """AI Gateway token, sent as `cf-aig-authorization: Bearer <token>`; byok mode needs it."""
    google_api_key: check.Secret = _named(None, "GOOGLE_API_KEY")
    """Google AI Studio key for key mode; wins over GEMINI_API_KEY, as in google-genai."""
    gemini_api_key: check.Secret = _named(None, "GEMINI_API_KEY")
    """Google AI Studio key for key mode, used when GOOGLE_API_KEY is unset."""
    mode: check.Mode = "auto"
    """`key` sends your Google key, `byok` lets the gateway add its stored one, `auto` picks."""
    base_url: check.BaseUrl = None
    """Gateway root URL replacing Cloudflare's (a custom domain, an emulator); https or loopback."""
    api_version: check.ApiVersion = "v1"
    """Gemini API version in the request path."""
    timeout: check.Timeout = check.DEFAULT_TIMEOUT
    """Client-side timeout per request, in seconds, at most 86400."""
    retries: check.Retries = check.DEFAULT_RETRIES
    """Client-side retries of failed connections and 408, 429, 500, 502-504 answers; 0 to 10."""
    retry_delay: check.FirstWait = 1.0
    """Seconds before the first retry, doubled for each next one, plus as much again at random."""
    model: check.Model = "gemini-2.5-flash"
    """Model for `cfgenai ask` and `cfgenai doctor --ping`."""
    provider: check.Provider = "google-ai-studio"
    """`google-ai-studio` (the Gemini API) or `google-vertex-ai` (Gemini on Vertex AI)."""
    vertex_project: check.PathSegment = None
    """Google Cloud project; required with `google-vertex-ai`."""
    vertex_location: check.PathSegment = None
    """Vertex AI region, e.g. `us-central1`; required with `google-vertex-ai`."""
    vertex_access_token: check.BearerSecret = None
    """Google access token for Vertex AI key mode, sent as `Authorization: Bearer <token>`."""
    vertex_credentials: check.GoogleCredentials = Field(None, repr=False)
    """Google credentials for Vertex AI key mode: `adc` or a credentials JSON file's path."""
    access_token: check.BearerSecret = None
    """Cloudflare Access token (JWT) for a domain behind Access, sent as `cf-access-token`."""
    access_client_id: check.PathSegment = None
    """Cloudflare Access service token id, sent as `CF-Access-Client-Id`."""
    access_client_secret: check.Secret = None
    """Cloudflare Access service token secret, sent as `CF-Access-Client-Secret`."""
    otel: check.Flag = True
    """`true` sends the current OpenTelemetry span's ids so the gateway's span joins your trace."""
    api_token: check.BearerSecret = _named(None, "CLOUDFLARE_API_TOKEN")
    """Cloudflare API token for logs (AI Gateway Read) and feedback (AI Gateway Edit)."""
    api_base_url: check.ApiBaseUrl = _named(
        "https://api.cloudflare.com/client/v4", "CLOUDFLARE_API_BASE_URL"
    )
    """Root of Cloudflare's REST API, for logs and feedback; https unless the host is loopback."""
    options: GatewayOptions = Field(default_factory=GatewayOptions, validation_alias="options")
    """The gateway options every request carries (CF_AIG_CACHE_TTL...)."""
    # The secrets read from files, by field: a rotated file is picked up (see _rotation).
    _files: dict[str, Path] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls, *args: Any, **sources: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The arguments alone: ``__init__`` passes what one ``Reading`` found under them."""
        return (sources["init_settings"],)

    def __init__(self, **values: Any) -> None:
        given: Reading | None = values.pop("_reading", None)
        reading = given or read(GatewaySettings, values.pop("_env_file", ...))
        data = _arguments(values, reading.data(GatewaySettings))
        found = unknown_names(
            values, _KNOWN, "setting of cfgenai", "`cfgenai env` lists the settings", _HINTS
        )
        try:
            super().__init__(**data)
        except ValidationError as exc:
            found += problems(exc, variable, FIXES)
        else:  # explicit ids that CF_AIG_BASE_URL would make meaningless
            found += [
                f"{name}: passed explicitly, but CF_AIG_BASE_URL names the gateway root, so it "
                "would be ignored; put the gateway in base_url=..., or unset CF_AIG_BASE_URL"
                for name in ("account_id", "gateway_id")
                if self.base_url is not None and values.get(name) is not None
            ]
        # Checked on the input, which a field's error does not stop: every problem at once.
        found = [*reading.problems, *found, *_combination_problems(data)]
        if found:  # "not set" ones say when no .env file was found
            secrets, path = found_secrets(reading, values), reading.env_file
            missing = path if path and not path.is_file() else None
            where = f" (no .env file was found at {missing.absolute()})" if missing else ""
            raise ConfigError(mask(p, secrets) + where * (NOT_SET in p) for p in found)
        hits = {n: reading.find(variables()[n]) for n in SECRET_FIELDS if n not in values}
        self._files = {n: hit.path for n, hit in hits.items() if hit and hit.path}
        if given is None:
            for message in self._warnings(reading, values):
                warnings.warn(message, UserWarning, stacklevel=2)

    def _warnings(self, reading: Reading, arguments: Mapping[str, Any]) -> list[str]:
        """What to warn of, read by ``reading`` with these keyword ``arguments``."""
        aliases = {n: names for n, names in variables().items() if n not in arguments}
        found = reading.warnings(GatewaySettings, aliases)
        if self.google_api_key and self.gemini_api_key not in (None, self.google_api_key):
            found.append(
                "GOOGLE_API_KEY and GEMINI_API_KEY are both set and differ; using "
                "GOOGLE_API_KEY (as google-genai does). Unset the one you do not mean."
            )
        return found

    @property
    def api_key(self) -> SecretStr | None:
        """The Google key in use: GOOGLE_API_KEY, else GEMINI_API_KEY (google-genai's order)."""
        return self.google_api_key or self.gemini_api_key

    @property
    def provider_key(self) -> SecretStr | None:
        """The provider credential for key mode: the Google key, or Vertex AI's access token."""
        return self.vertex_access_token if self.provider == VERTEX else self.api_key

    @property
    def key_is_token(self) -> bool:
        """The provider key is the gateway token (Cloudflare's BYOK example): none is sent."""
        return self.token is not None and self.provider_key == self.token

    @property
    def resolved_mode(self) -> Mode:
        """The mode requests go in (see ``decide_mode``)."""
        return decide_mode(self)[0]

    @property
    def secret_files(self) -> Mapping[str, Path]:
        """The files the credentials were read from, by field: a rotated file is read again."""
        return MappingProxyType(self._files)

    @property
    def gateway_root(self) -> str:
        """``CF_AIG_BASE_URL``, or Cloudflare's URL for the account and gateway."""
        return self.base_url or f"https://{CLOUDFLARE_HOST}/v1/{self.account_id}/{self.gateway_id}"


SECRET_FIELDS = tuple(n for n, f in GatewaySettings.model_fields.items() if _sources.is_secret(f))


def variables() -> dict[str, tuple[str, ...]]:
    """Each setting's and gateway option's environment variables, the first one winning."""
    return _sources.variables(GatewaySettings)


def variable(field: str) -> str:
    """The variable(s) that set ``field``, as a user writes them (anything else as it is)."""
    names = variables().get(field, (field,))
    return " (or ".join(names) + ")" * (len(names) - 1)


def decide_mode(settings: GatewaySettings) -> tuple[Mode, str]:
    """The mode requests go in, and why: the one place it is decided."""
    if settings.mode != "auto":
        return settings.mode, f"CF_AIG_MODE={settings.mode}"
    vertex = settings.provider == VERTEX
    if vertex and settings.vertex_credentials is not None:
        return "key", "auto: CF_AIG_VERTEX_CREDENTIALS is set, so cfgenai sends their token"
    name = variable(key_field(settings))
    if settings.provider_key is None:
        unset = name if vertex else "GOOGLE_API_KEY (or GEMINI_API_KEY)"
        return "byok", f"auto: {unset} is not set, so the gateway adds its stored key"
    if settings.key_is_token:
        return "byok", f"auto: {name} is the gateway token, so the gateway adds its stored key"
    return "key", f"auto: {name} is set"


def key_field(settings: GatewaySettings) -> str:
    """The field holding the provider's credential (GOOGLE_API_KEY first, as google-genai)."""
    if settings.provider == VERTEX:
        return "vertex_access_token"
    return "google_api_key" if settings.google_api_key else "gemini_api_key"


def found_secrets(reading: Reading, given: Mapping[str, Any] | None = None) -> list[str]:
    """Every secret ``reading`` found in any source, and in the keyword arguments ``given``."""
    names = {n for field in SECRET_FIELDS for n in variables()[field]}
    found = [v for s in reading.sources for n, v in s.values.items() if n in names]
    found += [v for n, v in (given or {}).items() if n in SECRET_FIELDS and v]
    return [_text(v) for v in found]


_KNOWN = {*GatewaySettings.model_fields, *OPTION_HEADERS}
# Keyword arguments people guess (google-genai's own name), and where the value goes.
_HINTS = {
    "api_key": "the Google key is google_api_key (GOOGLE_API_KEY) or gemini_api_key "
    "(GEMINI_API_KEY); on Vertex AI, vertex_access_token"
}


def _arguments(values: Mapping[str, Any], environment: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments over the ``environment``'s values, by field; gateway options under
    ``options``, which ``options=`` replaces."""
    merged = {**environment, **values}
    data = {k: v for k, v in merged.items() if k not in OPTION_HEADERS}
    options = {k: v for k, v in merged.items() if k in OPTION_HEADERS}
    return data | ({"options": options} if options and "options" not in values else {})


def _combination_problems(data: Mapping[str, Any]) -> list[str]:
    """Problems of fields together, read from the input ``data`` (by field name)."""
    raw = {k: _text(v) for k, v in data.items() if k != "options"}
    options = data.get("options")
    options = dict(options) if isinstance(options, Mapping | GatewayOptions) else {}
    found = [
        f"{variable(name)}: {why}; unset it and pass cfgenai.request_options({name}=...) per "
        "request"
        for name, why in PER_REQUEST_ONLY.items()
        if _text(options.get(name))
    ]
    if not raw.get("account_id") and not raw.get("base_url"):
        found.append(
            f"{variable('account_id')}{NOT_SET} set it to your Cloudflare account id "
            "(dashboard > AI > AI Gateway), or set CF_AIG_BASE_URL to the gateway's root URL"
        )
    vertex = raw.get("provider", "").lower() == VERTEX
    found += [
        f"{variable(name)}{NOT_SET} {VERTEX} needs the Google Cloud {what}"
        for name, what in (("vertex_project", "project"), ("vertex_location", "region"))
        if vertex and not raw.get(name)
    ]
    if vertex and "/" in raw.get("model", ""):
        found.append(
            f"{variable('model')}: on {VERTEX} name the model alone, e.g. gemini-2.5-flash "
            "(the models/ and tunedModels/ prefixes are the Gemini API's)"
        )
    if bool(raw.get("access_client_id")) != bool(raw.get("access_client_secret")):
        found.append(
            "CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET: a Cloudflare Access "
            "service token needs both; set the missing one or unset both"
        )
    credentials, token = variable("vertex_credentials"), variable("vertex_access_token")
    if raw.get("vertex_credentials") and not vertex:
        found.append(
            f"{credentials}: Google credentials are for Vertex AI (CF_AIG_PROVIDER={VERTEX}); "
            "unset it, or set the provider"
        )
    if raw.get("vertex_credentials") and raw.get("vertex_access_token"):
        found.append(
            f"{credentials} and {token}: set one: credentials, whose token cfgenai refreshes, "
            "or a token you refresh yourself"
        )
    # The provider's credential: the variable to set first, all of them, and the value found.
    first, named, key = (
        (token, f"{token} or {credentials}", raw.get("vertex_access_token"))
        if vertex
        else ("GOOGLE_API_KEY", "GOOGLE_API_KEY (or GEMINI_API_KEY)", raw.get("google_api_key"))
    )
    key = key or raw.get("vertex_credentials" if vertex else "gemini_api_key")
    mode = raw.get("mode", "").lower() or "auto"
    if mode == "key" and not key:
        found.append(
            f"CF_AIG_MODE=key needs the provider's credential: set {named}, or use "
            "CF_AIG_MODE=byok to let the gateway add the credential it stores"
        )
    elif mode == "key" and key == raw.get("token"):
        found.append(
            f"CF_AIG_MODE=key, but {first if vertex else named} holds the gateway token "
            "(CF_AIG_TOKEN), not the provider's credential: set the real one, or CF_AIG_MODE=byok"
        )
    cloudflare = raw.get("token") or raw.get("access_token") or raw.get("access_client_id")
    if (mode == "byok" or (mode == "auto" and not key)) and not cloudflare:
        why = "CF_AIG_MODE=byok" if mode == "byok" else "without a provider credential (byok mode)"
        found.append(
            f"{variable('token')}{NOT_SET} {why} the gateway needs its token: set CF_AIG_TOKEN "
            f"to an AI Gateway token, or set {first} to send your own credential"
        )
    return found


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or isinstance(value, str):
        return (value or "").strip()
    return object.__repr__(value)  # set, but not text (its type is reported on its own)


def resolve(settings: GatewaySettings | None, overrides: Mapping[str, Any]) -> GatewaySettings:
    """``settings`` (by default, the environment's) with ``overrides`` by field or option."""
    if settings is None or not overrides:
        return settings or GatewaySettings(**overrides)
    # Its values as the variables that set them, and the files its secrets came from.
    first = {name: names[0] for name, names in variables().items()}
    values = (dict(settings) | dict(settings.options)).items()
    found = {first[k]: v for k, v in values if k in first and v is not None}
    files = {first[k]: path for k, path in settings._files.items()}
    return type(settings)(_reading=Reading((Source("settings", found, files),)), **overrides)


def from_reading(reading: Reading) -> tuple[GatewaySettings, list[str]]:
    """``GatewaySettings()`` from what ``reading`` found, and the warnings it would give."""
    settings = GatewaySettings(_reading=reading)
    return settings, settings._warnings(reading, {})


GatewaySettings.__module__ = "cfgenai"  # after pydantic resolved its annotations here
