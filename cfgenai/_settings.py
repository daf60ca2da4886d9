"""GatewaySettings: every knob, read from arguments > environment > ``.env`` > defaults."""

from __future__ import annotations

import contextvars
import functools
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import EllipsisType
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from . import _checks as check
from . import _rotation
from ._checks import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    PROVIDER,
    VERTEX,
    AccountId,
    ApiBaseUrl,
    ApiVersion,
    BaseUrl,
    BearerSecret,
    Flag,
    GatewayId,
    GoogleCredentials,
    Model,
    PathSegment,
    Retries,
    Secret,
    Timeout,
)
from ._errors import ConfigError, problems, unknown_names
from ._options import OPTION_HEADERS, PER_REQUEST_ONLY, GatewayOptions
from ._secrets import mask
from ._sources import Reading, ReadingSource, read

CLOUDFLARE_GATEWAY_HOST = "https://gateway.ai.cloudflare.com"
DEFAULT_API_VERSION = "v1"  # google-genai's own default for the Gemini API
DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"
# Client-side retries apply to these statuses (google-genai's HttpRetryOptions).
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
NOT_SET = ": not set;"
# What the source in use reads from: set around each read (see settings_customise_sources).
_READING: contextvars.ContextVar[Reading] = contextvars.ContextVar("cfgenai_reading")


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class GatewaySettings(BaseSettings):
    """How to reach Gemini through Cloudflare AI Gateway, and the gateway options to send.

    ``GatewaySettings()`` reads the process environment and the ``.env`` file named by
    ``CF_AIG_ENV_FILE`` (default ``.env``; empty disables it); keyword arguments, by
    field name, override both, and a gateway option's name sets that option. Any problem
    raises one :class:`ConfigError` listing all of them. The gateway options
    (``CF_AIG_CACHE_TTL``...) in ``options`` are client-wide defaults that
    ``request_options()`` overrides for one request.
    """

    model_config = SettingsConfigDict(
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,
        frozen=True,
        defer_build=True,
    )

    account_id: AccountId = Field(
        None,
        validation_alias=_env("CF_AIG_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID"),
        description="Cloudflare account id, 32 hex characters. Required unless CF_AIG_BASE_URL is set.",
    )
    gateway_id: GatewayId = Field(
        "default",
        validation_alias=_env("CF_AIG_GATEWAY_ID", "CLOUDFLARE_GATEWAY_ID"),
        description="AI Gateway id: lowercase letters, digits and hyphens, at most 64.",
    )
    token: BearerSecret = Field(
        None,
        validation_alias=_env("CF_AIG_TOKEN", "CLOUDFLARE_GATEWAY_TOKEN"),
        description="AI Gateway token, sent as `cf-aig-authorization: Bearer <token>`. Required in byok mode.",
    )
    google_api_key: Secret = Field(
        None,
        validation_alias=_env("GOOGLE_API_KEY"),
        description="Google AI Studio key for key mode. Wins over GEMINI_API_KEY, with a warning "
        "when both are set and differ (google-genai's order).",
    )
    gemini_api_key: Secret = Field(
        None,
        validation_alias=_env("GEMINI_API_KEY"),
        description="Google AI Studio key for key mode, used when GOOGLE_API_KEY is unset.",
    )
    mode: Annotated[
        Literal["auto", "key", "byok"],
        BeforeValidator(
            check.choice(
                "auto",
                "key",
                "byok",
                message="must be key (send your Google key), byok (the gateway adds a key "
                "stored in Cloudflare) or auto (key when a Google key is set, else byok)",
            )
        ),
    ] = Field(
        "auto",
        validation_alias=_env("CF_AIG_MODE"),
        description="`key` sends your Google key; `byok` sends none, so the gateway adds the key "
        "it stores (BYOK or Unified Billing); `auto` is key when a Google key is set, else byok.",
    )
    base_url: BaseUrl = Field(
        None,
        validation_alias=_env("CF_AIG_BASE_URL"),
        description="Gateway root replacing `https://gateway.ai.cloudflare.com/v1/{account}/{gateway}`: "
        "a custom domain or a local emulator, https unless the host is loopback. cfgenai appends "
        "`/google-ai-studio`.",
    )
    api_version: ApiVersion = Field(
        DEFAULT_API_VERSION,
        validation_alias=_env("CF_AIG_API_VERSION"),
        description="Gemini API version in the request path (google-genai's default).",
    )
    timeout: Timeout = Field(
        DEFAULT_TIMEOUT,
        validation_alias=_env("CF_AIG_TIMEOUT"),
        description="Client-side timeout per request, in seconds, at most 86400 (24 hours).",
    )
    retries: Retries = Field(
        DEFAULT_RETRIES,
        validation_alias=_env("CF_AIG_RETRIES"),
        description="Client-side retries on 408, 429, 500, 502, 503 and 504 answers, failed "
        "connections and, with httpx, timeouts (aiohttp's timeout is final), with exponential "
        "backoff from 1 s; 0 disables them. `cfgenai doctor` shows the worst-case wait.",
    )
    model: Model = Field(
        DEFAULT_MODEL,
        validation_alias=_env("CF_AIG_MODEL"),
        description="Model for `cfgenai ask` and `cfgenai doctor --ping`; google-genai's "
        "`models/` and `tunedModels/` prefixes are accepted on the Gemini API.",
    )
    provider: Annotated[
        Literal["google-ai-studio", "google-vertex-ai"],
        BeforeValidator(
            check.choice(
                PROVIDER,
                VERTEX,
                message=f"must be {PROVIDER} (the Gemini API) or {VERTEX} (Gemini on Vertex AI)",
            )
        ),
    ] = Field(
        "google-ai-studio",
        validation_alias=_env("CF_AIG_PROVIDER"),
        description="`google-ai-studio` (the Gemini API) or `google-vertex-ai` (Gemini on Vertex AI).",
    )
    vertex_project: PathSegment = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_PROJECT"),
        description="Google Cloud project for Vertex AI. Required with `google-vertex-ai`.",
    )
    vertex_location: PathSegment = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_LOCATION"),
        description="Vertex AI region, e.g. `us-central1`. `global` works for the models "
        "Cloudflare routes there (few; doctor warns). Required with `google-vertex-ai`.",
    )
    vertex_access_token: BearerSecret = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_ACCESS_TOKEN"),
        description="Google access token for Vertex AI key mode, sent as "
        "`Authorization: Bearer <token>`; unset, the gateway uses its stored credentials.",
    )
    vertex_credentials: GoogleCredentials = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_CREDENTIALS"),
        description="Google credentials for Vertex AI key mode, whose access token cfgenai "
        "sends and refreshes: `adc` (Application Default Credentials: "
        "GOOGLE_APPLICATION_CREDENTIALS, gcloud, workload identity, the metadata server) or "
        "the path of a credentials JSON file (service account, authorized user, external "
        "account); `build_client(credentials=...)` takes a google.auth object.",
        repr=False,
    )
    access_token: BearerSecret = Field(
        None,
        validation_alias=_env("CF_AIG_ACCESS_TOKEN"),
        description="Cloudflare Access token (JWT) for a custom domain behind Access, sent as "
        "`cf-access-token`; it can replace CF_AIG_TOKEN there.",
    )
    access_client_id: PathSegment = Field(
        None,
        validation_alias=_env("CF_AIG_ACCESS_CLIENT_ID"),
        description="Cloudflare Access service token id, sent as `CF-Access-Client-Id`.",
    )
    access_client_secret: Secret = Field(
        None,
        validation_alias=_env("CF_AIG_ACCESS_CLIENT_SECRET"),
        description="Cloudflare Access service token secret, sent as `CF-Access-Client-Secret`.",
    )
    otel: Flag = Field(
        True,
        validation_alias=_env("CF_AIG_OTEL"),
        description="`true`: while a recording OpenTelemetry span is current (your app uses "
        "`opentelemetry-api`, extra `otel`), requests carry its trace and span ids so the "
        "gateway's span joins your trace; `false` sends none. cfgenai never imports "
        "OpenTelemetry itself.",
    )
    api_token: BearerSecret = Field(
        None,
        validation_alias=_env("CLOUDFLARE_API_TOKEN"),
        description="Cloudflare API token with AI Gateway Read (and Edit, for feedback) "
        "permission, for the logs and feedback API (`cfgenai.logs.get_log`, `cfgenai.logs.feedback`); "
        "never sent to the gateway itself.",
    )
    api_base_url: ApiBaseUrl = Field(
        DEFAULT_API_BASE_URL,
        validation_alias=_env("CLOUDFLARE_API_BASE_URL"),
        description="Root of Cloudflare's REST API, for logs and feedback; https unless the "
        "host is loopback (a local emulator).",
    )
    options: GatewayOptions = Field(
        default_factory=GatewayOptions,
        description="The gateway options every request carries (CF_AIG_CACHE_TTL...).",
    )
    # The secrets read from files, by field: a rotated file is picked up (see _rotation).
    _files: dict[str, Path] = PrivateAttr(default_factory=dict)

    @field_validator("options", mode="after")
    @classmethod
    def _no_client_wide_request_ids(cls, options: GatewayOptions) -> GatewayOptions:
        lines = []
        for name in PER_REQUEST_ONLY:
            if getattr(options, name) is not None:
                why = (
                    "a client-wide cache key would give every request the same cached answer"
                    if name == "cache_key"
                    else "a client-wide trace id would put every request in one trace (cfgenai "
                    "sends the current OpenTelemetry span's ids by default, see CF_AIG_OTEL)"
                )
                lines.append(
                    f"{variable(name)}: {why}; unset it and pass "
                    f"cfgenai.request_options({name}=...) per request"
                )
        if lines:
            raise ConfigError(lines)
        return options

    @model_validator(mode="wrap")
    @classmethod
    def _check_everything(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # Field errors stop pydantic before an "after" validator could run, so the
        # combination checks read the raw input: every problem is reported at once.
        found = _unknown_names(data) if isinstance(data, Mapping) else []
        try:
            settings = handler(data)
        except ValidationError as exc:
            found += problems(exc, _label)
        if isinstance(data, Mapping):
            found += _combination_problems(data)
        if found:
            raise ConfigError(found)
        return settings

    # -- reading --------------------------------------------------------------------------

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then what one :class:`Reading` found (environment, then ``.env``)."""
        nested = ("options", tuple(OPTION_HEADERS))
        return init_settings, ReadingSource(settings_cls, _READING.get(), variables(), nested)

    def __init__(self, **values: Any) -> None:
        for message in self._read(values):
            warnings.warn(message, UserWarning, stacklevel=2)

    def _read(self, values: dict[str, Any], reading: Reading | None = None) -> list[str]:
        """Reads and validates; returns the warnings to give, raises ``ConfigError``."""
        env_file: Path | str | EllipsisType | None = values.pop("_env_file", ...)
        if reading is None:
            reading = read(env_file, secrets=secret_variables())
        given = _given_secrets(values)
        arguments = _nest_options(values)
        found: list[str] = []
        context = _READING.set(reading)
        try:
            super().__init__(**arguments)
        except ValidationError as exc:
            found = problems(exc, _label)
        else:
            found = _root_override_problems(self.base_url, values)
        finally:
            _READING.reset(context)
        found = [*reading.problems, *found]
        if found:
            found = [mask(line, [*found_secrets(reading), *given]) for line in found]
            raise ConfigError(_mention_env_file(found, reading.env_file))
        self._files = {
            name: reading.files[hit.name]
            for name in SECRET_FIELDS
            if name not in values
            and (hit := reading.find(variables()[name])) is not None
            and hit.name in reading.files
        }
        aliases = {n: names for n, names in variables().items() if n not in values}
        return [*reading.warnings(aliases, all_variables()), *self._key_warnings()]

    def _key_warnings(self) -> list[str]:
        if self.google_api_key and self.gemini_api_key not in (None, self.google_api_key):
            return [
                "GOOGLE_API_KEY and GEMINI_API_KEY are both set and differ; using "
                "GOOGLE_API_KEY (as google-genai does). Unset the one you do not mean."
            ]
        return []

    def _replace(self, **changes: Any) -> Self:
        """These settings with ``changes`` (by field or option name), read from nowhere else."""
        secrets = [*_given_secrets(dict(self)), *_given_secrets(changes)]
        options = self.options.model_dump(exclude_none=True)
        data = {**dict(self), **_nest_options(changes, options)}
        # BaseModel.__init__ validates only; BaseSettings.__init__ would read the sources.
        settings = self.__class__.__new__(self.__class__)
        try:
            BaseModel.__init__(settings, **data)
        except ValidationError as exc:
            found = problems(exc, _label)
        else:
            found = _root_override_problems(settings.base_url, changes)
        if found:
            raise ConfigError(mask(line, secrets) for line in found)
        settings._files = {k: v for k, v in self._files.items() if k not in changes}
        return settings

    # -- what the settings resolve to ---------------------------------------------------

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
        """The provider key is the gateway token itself (Cloudflare's JS BYOK example): no
        provider key at all, so the gateway adds its stored one."""
        return self.token is not None and self.provider_key == self.token

    @property
    def resolved_mode(self) -> Literal["key", "byok"]:
        return self.mode_decision[0]

    @property
    def mode_decision(self) -> tuple[Literal["key", "byok"], str]:
        """The mode requests go in, and why: the one place it is decided."""
        if self.mode != "auto":
            return self.mode, f"CF_AIG_MODE={self.mode}"
        vertex = self.provider == VERTEX
        if vertex and self.vertex_credentials is not None:
            return "key", "auto: CF_AIG_VERTEX_CREDENTIALS is set, so cfgenai sends their token"
        holder = (
            "CF_AIG_VERTEX_ACCESS_TOKEN"
            if vertex
            else "GOOGLE_API_KEY"
            if self.google_api_key
            else "GEMINI_API_KEY"
        )
        if self.key_is_token:
            return "byok", (
                f"auto: {holder} holds the gateway token (CF_AIG_TOKEN), as in Cloudflare's BYOK "
                "example, so no provider key is sent and the gateway adds its stored key"
            )
        if self.provider_key:
            return "key", f"auto: {holder} is set"
        if vertex:
            return "byok", (
                "auto: no Vertex AI access token or credentials are set, so the gateway adds "
                "its stored credentials"
            )
        return "byok", "auto: no Google key is set, so the gateway adds its stored key"

    def secret(self, name: str) -> _rotation.Secret | None:
        """The credential field ``name`` (or ``api_key``, the Google key in use) as sent: a
        :class:`Secret` that re-reads its file."""
        if name == "api_key":
            name = "google_api_key" if self.google_api_key else "gemini_api_key"
        value = getattr(self, name)
        if value is None:
            return None
        return _rotation.Secret(value.get_secret_value(), self._files.get(name))

    @property
    def gateway_root(self) -> str:
        """``CF_AIG_BASE_URL``, or Cloudflare's URL for the account and gateway."""
        if self.base_url:
            return self.base_url
        return f"{CLOUDFLARE_GATEWAY_HOST}/v1/{self.account_id}/{self.gateway_id}"


# The credentials: every field whose value is a SecretStr.
SECRET_FIELDS = tuple(
    n for n, f in GatewaySettings.model_fields.items() if f.annotation == SecretStr | None
)

# -- naming the variables -----------------------------------------------------------------------


@functools.cache
def variables() -> dict[str, tuple[str, ...]]:
    """Each setting's and gateway option's environment variables, the first one winning."""
    fields = {
        **GatewaySettings.model_fields,
        **GatewayOptions.model_fields,
    }
    return {
        name: tuple(str(n) for n in info.validation_alias.choices)
        for name, info in fields.items()
        if isinstance(info.validation_alias, AliasChoices)
    }


@functools.cache
def secret_variables() -> tuple[str, ...]:
    """The variables of the credentials: each may also come from a file."""
    return tuple(n for field in SECRET_FIELDS for n in variables()[field])


@functools.cache
def all_variables() -> frozenset[str]:
    return frozenset(n for names in variables().values() for n in names)


def variable(field: str) -> str:
    """The environment variable(s) that set ``field``, as a user would write them."""
    names = variables()[field]
    return " (or ".join(names) + ")" * (len(names) - 1)


def _label(loc: tuple[int | str, ...]) -> str:
    # ("options", "cache_ttl") is CF_AIG_CACHE_TTL; a field or its alias is its variable.
    key = str(loc[-1] if loc[0] == "options" and len(loc) > 1 else loc[0])
    by_key = {k: name for name, names in variables().items() for k in (name, *names)}
    return variable(by_key[key]) if key in by_key else key


def found_secrets(reading: Reading) -> list[str]:
    """Every secret value ``reading`` found, wherever it came from (to mask it in messages)."""
    return [hit.value for name in SECRET_FIELDS if (hit := reading.find(variables()[name]))]


def _given_secrets(values: Mapping[str, Any]) -> list[str]:
    """The secrets among keyword arguments (or a settings object's values), as text."""
    given = [values.get(name) for name in SECRET_FIELDS]
    return [str(v.get_secret_value() if isinstance(v, SecretStr) else v) for v in given if v]


def _nest_options(values: Mapping[str, Any], options: Any = None) -> dict[str, Any]:
    """Keyword arguments with the gateway options' ones gathered under ``options``."""
    nested = {k: v for k, v in values.items() if k not in OPTION_HEADERS}
    given = {k: v for k, v in values.items() if k in OPTION_HEADERS}
    if given or options is not None:
        nested["options"] = {**(options or {}), **given}
    return nested


def _unknown_names(data: Mapping[str, Any]) -> list[str]:
    """Keyword arguments that are no setting: pydantic would silently drop them."""
    known = [*GatewaySettings.model_fields, *OPTION_HEADERS]
    found = []
    for line in unknown_names(
        data, known, "setting of cfgenai", "`cfgenai env` lists the settings"
    ):
        if line.startswith("api_key:"):
            line = (
                "api_key: not a setting of cfgenai; the Google key is google_api_key "
                "(GOOGLE_API_KEY) or gemini_api_key (GEMINI_API_KEY); on Vertex AI, "
                "vertex_access_token"
            )
        found.append(line)
    return found


def _root_override_problems(base_url: str | None, overrides: Mapping[str, Any]) -> list[str]:
    """Explicit account or gateway ids that ``base_url`` would make meaningless."""
    if base_url is None:
        return []
    return [
        f"{name}: passed explicitly, but CF_AIG_BASE_URL is set and names the gateway root, "
        f"so {name} would be ignored; put the gateway in the base URL (base_url=...), or "
        "unset CF_AIG_BASE_URL"
        for name in ("account_id", "gateway_id")
        if overrides.get(name) is not None
    ]


def _mention_env_file(found: list[str], env_file: Path | None) -> list[str]:
    """Problems, with "not set" ones saying that no ``.env`` file was found."""
    if env_file is None or env_file.is_file():
        return found
    where = f" (no .env file was found at {env_file.absolute()})"
    return [p + where if NOT_SET in p else p for p in found]


def _combination_problems(data: Mapping[str, Any]) -> list[str]:
    """Problems of fields together, read from the raw input ``data`` (by field name)."""
    raw = {str(k): _text(v) for k, v in data.items() if k != "options"}
    found = []
    if not raw.get("account_id") and not raw.get("base_url"):
        found.append(
            f"{variable('account_id')}{NOT_SET} set it to your Cloudflare account id "
            "(dashboard > AI > AI Gateway), or set CF_AIG_BASE_URL to the gateway's root URL"
        )
    vertex = raw.get("provider", "").lower() == VERTEX
    if vertex:
        found += [
            f"{variable(name)}{NOT_SET} {VERTEX} needs the Google Cloud {what}"
            for name, what in (("vertex_project", "project"), ("vertex_location", "region"))
            if not raw.get(name)
        ]
        if "/" in raw.get("model", ""):
            found.append(
                f"{variable('model')}: on {VERTEX} name the model alone, e.g. gemini-2.5-flash "
                "(the models/ and tunedModels/ prefixes are the Gemini API's)"
            )
    if bool(raw.get("access_client_id")) != bool(raw.get("access_client_secret")):
        found.append(
            "CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET: a Cloudflare Access "
            "service token needs both; set the missing one or unset both"
        )
    if raw.get("vertex_credentials") and not vertex:
        found.append(
            f"{variable('vertex_credentials')}: Google credentials are for Vertex AI "
            f"(CF_AIG_PROVIDER={VERTEX}); unset it, or set the provider"
        )
    if raw.get("vertex_credentials") and raw.get("vertex_access_token"):
        found.append(
            f"{variable('vertex_credentials')} and {variable('vertex_access_token')}: set one: "
            "credentials, whose token cfgenai refreshes, or a token you refresh yourself"
        )
    mode = raw.get("mode", "").lower() or "auto"
    key_names = (
        "CF_AIG_VERTEX_ACCESS_TOKEN or CF_AIG_VERTEX_CREDENTIALS"
        if vertex
        else "GOOGLE_API_KEY (or GEMINI_API_KEY)"
    )
    key = (
        raw.get("vertex_access_token") or raw.get("vertex_credentials")
        if vertex
        else raw.get("google_api_key") or raw.get("gemini_api_key")
    )
    if mode == "key" and not key:
        found.append(
            f"CF_AIG_MODE=key needs the provider's credential: set {key_names}, or use "
            "CF_AIG_MODE=byok to let the gateway add the credential it stores"
        )
    if mode == "key" and key and key == raw.get("token"):
        found.append(
            f"CF_AIG_MODE=key, but {key_names.split(' or ')[0]} holds the gateway token (CF_AIG_TOKEN), not "
            "the provider's credential: set the real one, or use CF_AIG_MODE=byok (the "
            "gateway then adds the credential it stores)"
        )
    cloudflare = raw.get("token") or raw.get("access_token") or raw.get("access_client_id")
    if (mode == "byok" or (mode == "auto" and not key)) and not cloudflare:
        why = "CF_AIG_MODE=byok" if mode == "byok" else "without a provider credential (byok mode)"
        found.append(
            f"{variable('token')}{NOT_SET} {why} the gateway authenticates the request "
            f"with its token alone. Set CF_AIG_TOKEN to an AI Gateway token, or set "
            f"{key_names.split(' (')[0].split(' or ')[0]} to send your own credential"
        )
    return found


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or isinstance(value, str):
        return (value or "").strip()
    return object.__repr__(value)  # set, but not text (its type is reported on its own)


# -- the environment's settings, remembered ---------------------------------------------------


def resolve(settings: GatewaySettings | None, overrides: Mapping[str, Any]) -> GatewaySettings:
    """``settings`` with ``overrides`` applied; by default read from the environment."""
    if settings is None:
        return GatewaySettings(**overrides)
    return settings._replace(**overrides) if overrides else settings


def from_reading(reading: Reading) -> tuple[GatewaySettings, list[str]]:
    """``GatewaySettings()`` from what ``reading`` found, and the warnings it gives."""
    settings = GatewaySettings.__new__(GatewaySettings)
    return settings, settings._read({}, reading)


GatewaySettings.__module__ = "cfgenai"  # after pydantic resolved its annotations here
