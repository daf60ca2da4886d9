"""GatewaySettings: every knob, read from arguments > environment > ``.env`` > defaults."""

from __future__ import annotations

import difflib
import inspect
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import _checks
from ._checks import PROVIDER, VERTEX, is_loopback
from ._environment import ENCODING, alias_conflicts, env_file_from_environment, layers
from ._environment import unknown_variables as _unknown_variables
from ._errors import ConfigError
from ._options import PER_REQUEST_ONLY, GatewayOptions

__all__ = [
    "PROVIDER",
    "SECRET_FIELDS",
    "VERTEX",
    "GatewaySettings",
    "env_file_from_environment",
    "is_loopback",
    "unknown_variables",
    "variable",
]

CLOUDFLARE_GATEWAY_HOST = "https://gateway.ai.cloudflare.com"
DEFAULT_API_VERSION = "v1"  # google-genai's own default for the Gemini API
DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 24 * 3600.0
DEFAULT_RETRIES = 2
DEFAULT_MODEL = "gemini-2.5-flash"
# Client-side retries apply to these statuses (google-genai's HttpRetryOptions).
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
SECRET_FIELDS = (
    "token",
    "google_api_key",
    "gemini_api_key",
    "vertex_access_token",
    "access_token",
    "access_client_secret",
)
# Tokens that cfgenai (or the header) already prefixes with the Bearer scheme.
BEARER_FIELDS = ("token", "vertex_access_token", "access_token")
# Explicit overrides that CF_AIG_BASE_URL would silently make meaningless.
ROOT_FIELDS = ("account_id", "gateway_id")
NOT_SET = ": not set;"

_ACCOUNT_ID = re.compile(r"[0-9a-fA-F]{32}")
_GATEWAY_ID = re.compile(r"[a-z0-9-]{1,64}")
_API_VERSION = re.compile(r"v[0-9]+(?:(?:alpha|beta)[0-9]*)?")
# google-genai passes these prefixes through on the Gemini API (its t_model).
_MODEL = re.compile(r"(?:models/|tunedModels/)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Keyword arguments BaseSettings itself takes (_env_file, _case_sensitive...).
_SOURCE_ARGUMENTS = frozenset(inspect.signature(BaseSettings.__init__).parameters) - {"self"}


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class GatewaySettings(BaseSettings, GatewayOptions):
    """How to reach Gemini through Cloudflare AI Gateway, and the gateway options to send.

    ``GatewaySettings()`` reads the process environment and the ``.env`` file named by
    ``CF_AIG_ENV_FILE`` (default ``.env``; empty disables it); keyword arguments, by
    field name, override both. Any problem raises one :class:`ConfigError` listing all
    of them. The gateway options (``CF_AIG_CACHE_TTL``...) are client-wide defaults that
    ``request_options()`` overrides for one request.
    """

    model_config = SettingsConfigDict(
        extra="ignore",
        env_ignore_empty=True,
        env_file_encoding=ENCODING,
        populate_by_name=True,
        hide_input_in_errors=True,
        frozen=True,
    )

    account_id: str | None = Field(
        None,
        validation_alias=_env("CF_AIG_ACCOUNT_ID", "CLOUDFLARE_ACCOUNT_ID"),
        description="Cloudflare account id, 32 hex characters. Required unless CF_AIG_BASE_URL is set.",
    )
    gateway_id: str = Field(
        "default",
        validation_alias=_env("CF_AIG_GATEWAY_ID", "CLOUDFLARE_GATEWAY_ID"),
        description="AI Gateway id: lowercase letters, digits and hyphens, at most 64.",
    )
    token: SecretStr | None = Field(
        None,
        validation_alias=_env("CF_AIG_TOKEN", "CLOUDFLARE_GATEWAY_TOKEN"),
        description="AI Gateway token, sent as `cf-aig-authorization: Bearer <token>`. Required in byok mode.",
    )
    google_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("GOOGLE_API_KEY"),
        description="Google AI Studio key for key mode. Wins over GEMINI_API_KEY, with a warning "
        "when both are set and differ (google-genai's order).",
    )
    gemini_api_key: SecretStr | None = Field(
        None,
        validation_alias=_env("GEMINI_API_KEY"),
        description="Google AI Studio key for key mode, used when GOOGLE_API_KEY is unset.",
    )
    mode: Literal["auto", "key", "byok"] = Field(
        "auto",
        validation_alias=_env("CF_AIG_MODE"),
        description="`key` sends your Google key; `byok` sends none, so the gateway adds the key "
        "it stores (BYOK or Unified Billing); `auto` is key when a Google key is set, else byok.",
    )
    base_url: str | None = Field(
        None,
        validation_alias=_env("CF_AIG_BASE_URL"),
        description="Gateway root replacing `https://gateway.ai.cloudflare.com/v1/{account}/{gateway}`: "
        "a custom domain or a local emulator, https unless the host is loopback. cfgenai appends "
        "`/google-ai-studio`.",
    )
    api_version: str = Field(
        DEFAULT_API_VERSION,
        validation_alias=_env("CF_AIG_API_VERSION"),
        description="Gemini API version in the request path (google-genai's default).",
    )
    timeout: float = Field(
        DEFAULT_TIMEOUT,
        validation_alias=_env("CF_AIG_TIMEOUT"),
        description="Client-side timeout per request, in seconds, at most 86400 (24 hours).",
    )
    retries: int = Field(
        DEFAULT_RETRIES,
        validation_alias=_env("CF_AIG_RETRIES"),
        description="Client-side retries on 408, 429, 500, 502, 503 and 504 answers, with "
        "exponential backoff from 1 s; 0 disables them.",
    )
    model: str = Field(
        DEFAULT_MODEL,
        validation_alias=_env("CF_AIG_MODEL"),
        description="Model for `cfgenai ask` and `cfgenai doctor --ping`; google-genai's "
        "`models/` and `tunedModels/` prefixes are accepted on the Gemini API.",
    )
    provider: Literal["google-ai-studio", "google-vertex-ai"] = Field(
        "google-ai-studio",
        validation_alias=_env("CF_AIG_PROVIDER"),
        description="`google-ai-studio` (the Gemini API) or `google-vertex-ai` (Gemini on Vertex AI).",
    )
    vertex_project: str | None = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_PROJECT"),
        description="Google Cloud project for Vertex AI. Required with `google-vertex-ai`.",
    )
    vertex_location: str | None = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_LOCATION"),
        description="Vertex AI region, e.g. `us-central1`. `global` works for the models "
        "Cloudflare routes there (few; doctor warns). Required with `google-vertex-ai`.",
    )
    vertex_access_token: SecretStr | None = Field(
        None,
        validation_alias=_env("CF_AIG_VERTEX_ACCESS_TOKEN"),
        description="Google access token for Vertex AI key mode, sent as "
        "`Authorization: Bearer <token>`; unset, the gateway uses its stored credentials.",
    )
    access_token: SecretStr | None = Field(
        None,
        validation_alias=_env("CF_AIG_ACCESS_TOKEN"),
        description="Cloudflare Access token (JWT) for a custom domain behind Access, sent as "
        "`cf-access-token`; it can replace CF_AIG_TOKEN there.",
    )
    access_client_id: str | None = Field(
        None,
        validation_alias=_env("CF_AIG_ACCESS_CLIENT_ID"),
        description="Cloudflare Access service token id, sent as `CF-Access-Client-Id`.",
    )
    access_client_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("CF_AIG_ACCESS_CLIENT_SECRET"),
        description="Cloudflare Access service token secret, sent as `CF-Access-Client-Secret`.",
    )

    def __init__(self, **values: Any) -> None:
        problems = _argument_problems(values)
        if "_env_file" not in values:
            values["_env_file"], file_problems = env_file_from_environment()
            problems = file_problems + problems
        try:
            super().__init__(**values)
        except ValidationError as exc:
            problems += _problems(exc)
        else:
            problems += _root_override_problems(self, values)
        if problems:
            raise ConfigError(_mention_env_file(problems, values["_env_file"])) from None
        env_file = values["_env_file"]
        found = layers(Path(env_file) if isinstance(env_file, str | Path) else None)
        aliases = {
            name: variables
            for name, variables in _VARIABLES.items()
            if name not in values and len(variables) > 1
        }
        for message in [
            *unknown_variables(found),
            *alias_conflicts(found, aliases),
            *self._key_warnings(),
        ]:
            warnings.warn(message, UserWarning, stacklevel=2)

    def _key_warnings(self) -> list[str]:
        if self.google_api_key and self.gemini_api_key not in (None, self.google_api_key):
            return [
                "GOOGLE_API_KEY and GEMINI_API_KEY are both set and differ; using "
                "GOOGLE_API_KEY (as google-genai does). Unset the one you do not mean."
            ]
        return []

    @classmethod
    def _validated(cls, data: Mapping[str, Any]) -> Self:
        """A settings object from ``data`` alone, without reading any source."""
        # BaseModel.__init__ validates only; model_validate would run BaseSettings.__init__,
        # which reads the environment again.
        settings = cls.__new__(cls)
        try:
            BaseModel.__init__(settings, **data)
        except ValidationError as exc:
            raise ConfigError(_problems(exc)) from None
        return settings

    def _replace(self, **changes: Any) -> Self:
        problems = _argument_problems(changes)
        try:
            settings = self._validated({**dict(self), **changes})
        except ConfigError as exc:
            problems += exc.problems
        else:
            problems += _root_override_problems(settings, changes)
        if problems:
            raise ConfigError(problems)
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
        if self.mode == "auto":
            return "key" if self.provider_key and not self.key_is_token else "byok"
        return self.mode

    def gateway_headers(self) -> dict[str, str]:
        """What every request carries for the gateway: its token, Cloudflare Access
        credentials and the client-wide gateway options. Holds secrets: never log it."""
        headers = self.headers()
        for name, value in (
            ("cf-aig-authorization", self.token and f"Bearer {self.token.get_secret_value()}"),
            ("cf-access-token", self.access_token and self.access_token.get_secret_value()),
            ("CF-Access-Client-Id", self.access_client_id),
            (
                "CF-Access-Client-Secret",
                self.access_client_secret and self.access_client_secret.get_secret_value(),
            ),
        ):
            if value:
                headers[name] = value
        return headers

    @property
    def gateway_root(self) -> str:
        """``CF_AIG_BASE_URL``, or Cloudflare's URL for the account and gateway."""
        if self.base_url:
            return self.base_url
        return f"{CLOUDFLARE_GATEWAY_HOST}/v1/{self.account_id}/{self.gateway_id}"

    @property
    def provider_url(self) -> str:
        """The base URL google-genai gets: the gateway root plus the provider's segment (and,
        for Vertex AI, the version, project and location: google-genai adds the model path)."""
        if self.provider == VERTEX:
            return (
                f"{self.gateway_root}/{VERTEX}/{self.api_version}/projects/"
                f"{self.vertex_project}/locations/{self.vertex_location}"
            )
        return f"{self.gateway_root}/{PROVIDER}"

    def model_url(self, model: str, method: str = "generateContent") -> str:
        """The URL a call to ``model`` goes to."""
        if self.provider == VERTEX:
            return f"{self.provider_url}/publishers/google/models/{model}:{method}"
        path = model if "/" in model else f"models/{model}"  # google-genai's prefixes
        return f"{self.provider_url}/{self.api_version}/{path}:{method}"

    # -- per-field checks (pydantic collects all of them) -------------------------------

    @field_validator(*PER_REQUEST_ONLY, mode="after")
    @classmethod
    def _no_client_wide_cache_key(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError(
                "a client-wide cache key would give every request the same cached answer; "
                "unset it and pass cfgenai.request_options(cache_key=...) per request"
            )
        return value

    @field_validator("account_id", mode="before")
    @classmethod
    def _check_account_id(cls, value: Any) -> Any:
        value = _checks.optional_string(value)
        if value is not None and not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(
                "must be the 32-character hexadecimal account id shown in the Cloudflare "
                "dashboard" + _checks.describe(value, "[0-9a-fA-F]", "letters after f")
            )
        return value

    @field_validator("gateway_id", mode="before")
    @classmethod
    def _check_gateway_id(cls, value: Any) -> Any:
        value = _required_string(value)
        if not _GATEWAY_ID.fullmatch(value):
            raise ValueError(
                "must be the gateway's id: 1 to 64 lowercase letters, digits and hyphens"
                + _checks.describe(value, "[a-z0-9-]")
            )
        return value

    @field_validator(*SECRET_FIELDS, mode="before")
    @classmethod
    def _check_secret(cls, value: Any, info: ValidationInfo) -> Any:
        return _checks.secret(value, bearer=info.field_name in BEARER_FIELDS)

    @field_validator("mode", mode="before")
    @classmethod
    def _check_mode(cls, value: Any) -> Any:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in ("auto", "key", "byok"):
            raise ValueError(
                "must be key (send your Google key), byok (the gateway adds a key stored "
                "in Cloudflare) or auto (key when a Google key is set, else byok)"
            )
        return value

    @field_validator("base_url", mode="before")
    @classmethod
    def _check_base_url(cls, value: Any) -> Any:
        value = _checks.optional_string(value)
        if value is None:
            return None
        problems = _checks.base_url_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("api_version", mode="before")
    @classmethod
    def _check_api_version(cls, value: Any) -> Any:
        if not _API_VERSION.fullmatch(_required_string(value)):
            raise ValueError("must be a Gemini API version such as v1 or v1beta")
        return value.strip()

    @field_validator("provider", mode="before")
    @classmethod
    def _check_provider(cls, value: Any) -> Any:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in (PROVIDER, VERTEX):
            raise ValueError(
                f"must be {PROVIDER} (the Gemini API) or {VERTEX} (Gemini on Vertex AI)"
            )
        return value

    @field_validator("vertex_project", "vertex_location", "access_client_id", mode="before")
    @classmethod
    def _check_path_safe(cls, value: Any) -> Any:
        return _checks.path_segment(value)

    @field_validator("model", mode="before")
    @classmethod
    def _check_model(cls, value: Any) -> Any:
        value = _required_string(value)
        if not _MODEL.fullmatch(value):
            raise ValueError(
                "must be a model name such as gemini-2.5-flash or models/gemini-2.5-flash"
            )
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> Any:
        seconds = _checks.number(value, float)
        if seconds is None or not 0 < seconds <= MAX_TIMEOUT:
            raise ValueError(
                f"must be a number of seconds greater than 0 and at most {MAX_TIMEOUT:g} "
                f"(24 hours), e.g. 30; unset it for {DEFAULT_TIMEOUT:g}"
            )
        return seconds

    @field_validator("retries", mode="before")
    @classmethod
    def _check_retries(cls, value: Any) -> Any:
        count = _checks.number(value, int)
        if count is None or not 0 <= count <= 10:
            raise ValueError(
                f"must be a whole number from 0 (no retries) to 10; unset it for {DEFAULT_RETRIES}"
            )
        return count

    # -- checks across fields, and the single error ------------------------------------

    @model_validator(mode="wrap")
    @classmethod
    def _check_everything(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # Field errors stop pydantic before an "after" validator could run, so the
        # combination checks read the raw input: every problem is reported at once.
        problems: list[str] = []
        try:
            settings = handler(data)
        except ValidationError as exc:
            problems = _problems(exc)
        if isinstance(data, Mapping):
            problems += _combination_problems(data)
        if problems:
            raise ConfigError(problems)
        return settings


# -- helpers ------------------------------------------------------------------------------


def _names(field: str) -> list[str]:
    alias = GatewaySettings.model_fields[field].validation_alias
    return [str(n) for n in alias.choices] if isinstance(alias, AliasChoices) else [field]


# Each setting's variables, the first one winning.
_VARIABLES = {name: _names(name) for name in GatewaySettings.model_fields}
_FIELD_BY_KEY = {
    key: name for name, names in _VARIABLES.items() for key in (name, *(n.lower() for n in names))
}


def variable(field: str) -> str:
    """The environment variable(s) that set ``field``, as a user would write them."""
    names = _VARIABLES[field]
    return " (or ".join(names) + ")" * (len(names) - 1)


def unknown_variables(found: Iterable[tuple[str, dict[str, str]]]) -> list[str]:
    """A line for each ``CF_AIG_*`` variable set in ``found`` that no setting reads."""
    return _unknown_variables(list(found), (n for names in _VARIABLES.values() for n in names))


def _argument_problems(values: Mapping[str, Any]) -> list[str]:
    """Keyword arguments that are no setting: pydantic would silently drop them."""
    problems = []
    for key in values:
        if key.lower() in _FIELD_BY_KEY or key in _SOURCE_ARGUMENTS:
            continue
        if key == "api_key":
            hint = (
                "the Google key is google_api_key (GOOGLE_API_KEY) or gemini_api_key "
                "(GEMINI_API_KEY); on Vertex AI, vertex_access_token"
            )
        else:
            close = difflib.get_close_matches(key, GatewaySettings.model_fields, n=1)
            hint = f"did you mean {close[0]}?" if close else "`cfgenai env` lists the settings"
        problems.append(f"{key}: not a setting of cfgenai; {hint}")
    return problems


def _root_override_problems(settings: GatewaySettings, overrides: Mapping[str, Any]) -> list[str]:
    if settings.base_url is None:
        return []
    return [
        f"{name}: passed explicitly, but CF_AIG_BASE_URL is set and names the gateway root, "
        f"so {name} would be ignored; put the gateway in the base URL (base_url=...), or "
        "unset CF_AIG_BASE_URL"
        for name in ROOT_FIELDS
        if overrides.get(name) is not None
    ]


def _mention_env_file(problems: list[str], env_file: Any) -> list[str]:
    """Problems, with "not set" ones saying that no ``.env`` file was found."""
    if env_file is None or not isinstance(env_file, str | Path) or Path(env_file).is_file():
        return problems
    where = f" (no .env file was found at {Path(env_file).absolute()})"
    return [p + where if NOT_SET in p else p for p in problems]


def _problems(exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            problems += cause.problems
            continue
        message = str(cause) if cause is not None else error["msg"]
        key = str(error["loc"][0]) if error["loc"] else ""
        field = _FIELD_BY_KEY.get(key.lower(), _FIELD_BY_KEY.get(key))
        problems.append(f"{variable(field)}: {message}" if field else message)
    return problems


def _combination_problems(data: Mapping[str, Any]) -> list[str]:
    raw = {_FIELD_BY_KEY.get(str(k).lower(), str(k)): _text(v) for k, v in data.items()}
    problems = []
    if not raw.get("account_id") and not raw.get("base_url"):
        problems.append(
            f"{variable('account_id')}{NOT_SET} set it to your Cloudflare account id "
            "(dashboard > AI > AI Gateway), or set CF_AIG_BASE_URL to the gateway's root URL"
        )
    vertex = raw.get("provider", "").lower() == VERTEX
    if vertex:
        problems += [
            f"{variable(name)}{NOT_SET} {VERTEX} needs the Google Cloud {what}"
            for name, what in (("vertex_project", "project"), ("vertex_location", "region"))
            if not raw.get(name)
        ]
        if "/" in raw.get("model", ""):
            problems.append(
                f"{variable('model')}: on {VERTEX} name the model alone, e.g. gemini-2.5-flash "
                "(the models/ and tunedModels/ prefixes are the Gemini API's)"
            )
    if bool(raw.get("access_client_id")) != bool(raw.get("access_client_secret")):
        problems.append(
            "CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET: a Cloudflare Access "
            "service token needs both; set the missing one or unset both"
        )
    mode = raw.get("mode", "").lower() or "auto"
    key_names = "CF_AIG_VERTEX_ACCESS_TOKEN" if vertex else "GOOGLE_API_KEY (or GEMINI_API_KEY)"
    key = (
        raw.get("vertex_access_token")
        if vertex
        else raw.get("google_api_key") or raw.get("gemini_api_key")
    )
    if mode == "key" and not key:
        problems.append(
            f"CF_AIG_MODE=key needs the provider's credential: set {key_names}, or use "
            "CF_AIG_MODE=byok to let the gateway add the credential it stores"
        )
    if mode == "key" and key and key == raw.get("token"):
        problems.append(
            f"CF_AIG_MODE=key, but {key_names} holds the gateway token (CF_AIG_TOKEN), not "
            "the provider's credential: set the real one, or use CF_AIG_MODE=byok (the "
            "gateway then adds the credential it stores)"
        )
    cloudflare = raw.get("token") or raw.get("access_token") or raw.get("access_client_id")
    if (mode == "byok" or (mode == "auto" and not key)) and not cloudflare:
        why = "CF_AIG_MODE=byok" if mode == "byok" else "without a provider credential (byok mode)"
        problems.append(
            f"{variable('token')}{NOT_SET} {why} the gateway authenticates the request "
            f"with its token alone. Set CF_AIG_TOKEN to an AI Gateway token, or set "
            f"{key_names.split(' (')[0]} to send your own credential"
        )
    return problems


def _required_string(value: Any) -> str:
    text = _checks.string(value)
    if text is None:
        raise ValueError("must be a string, not None")
    return text


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or isinstance(value, str):
        return (value or "").strip()
    return object.__repr__(value)  # set, but not text (its type is reported on its own)
