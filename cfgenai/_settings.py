"""GatewaySettings: every knob, read from arguments > environment > ``.env`` > defaults."""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import _validators
from ._checks import PROVIDER, VERTEX, is_loopback
from ._environment import (
    ENCODING,
    ENV_FILE,
    PREFIX,
    alias_conflicts,
    env_file_from_environment,
    layers,
)
from ._environment import unknown_variables as _unknown_variables
from ._errors import ConfigError
from ._options import GatewayOptions
from ._validators import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    SECRET_FIELDS,
    SettingsChecks,
    argument_problems,
    mention_env_file,
    root_override_problems,
    validation_problems,
    variable_names,
)

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
DEFAULT_MODEL = "gemini-2.5-flash"
DEFAULT_API_BASE_URL = "https://api.cloudflare.com/client/v4"
# Client-side retries apply to these statuses (google-genai's HttpRetryOptions).
RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
# Keyword arguments BaseSettings itself takes (_env_file, _case_sensitive...).
_SOURCE_ARGUMENTS = frozenset(inspect.signature(BaseSettings.__init__).parameters) - {"self"}


def _env(*names: str) -> Any:
    return AliasChoices(*names)


class GatewaySettings(BaseSettings, SettingsChecks, GatewayOptions):
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
        description="Client-side retries on 408, 429, 500, 502, 503 and 504 answers, failed "
        "connections and, with httpx, timeouts (aiohttp's timeout is final), with exponential "
        "backoff from 1 s; 0 disables them. `cfgenai doctor` shows the worst-case wait.",
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

    otel: bool = Field(
        True,
        validation_alias=_env("CF_AIG_OTEL"),
        description="`true`: while a recording OpenTelemetry span is current (your app uses "
        "`opentelemetry-api`, extra `otel`), requests carry its trace and span ids so the "
        "gateway's span joins your trace; `false` sends none. cfgenai never imports "
        "OpenTelemetry itself.",
    )
    api_token: SecretStr | None = Field(
        None,
        validation_alias=_env("CLOUDFLARE_API_TOKEN"),
        description="Cloudflare API token with AI Gateway Read (and Edit, for feedback) "
        "permission, for the logs and feedback API (`cfgenai.get_log`, `cfgenai.feedback`); "
        "never sent to the gateway itself.",
    )
    api_base_url: str = Field(
        DEFAULT_API_BASE_URL,
        validation_alias=_env("CLOUDFLARE_API_BASE_URL"),
        description="Root of Cloudflare's REST API, for logs and feedback; https unless the "
        "host is loopback (a local emulator).",
    )

    def __init__(self, **values: Any) -> None:
        for message in self._read(values):
            warnings.warn(message, UserWarning, stacklevel=2)

    def _read(self, values: dict[str, Any]) -> list[str]:
        """Reads and validates; returns the warnings to give, raises ``ConfigError``."""
        problems = argument_problems(GatewaySettings, values, _SOURCE_ARGUMENTS)
        if "_env_file" not in values:
            values["_env_file"], file_problems = env_file_from_environment()
            problems = file_problems + problems
        try:
            super().__init__(**values)
        except ValidationError as exc:
            problems += validation_problems(GatewaySettings, exc)
        else:
            problems += root_override_problems(self.base_url, values)
        if problems:
            raise ConfigError(mention_env_file(problems, values["_env_file"])) from None
        env_file = values["_env_file"]
        found = layers(Path(env_file) if isinstance(env_file, str | Path) else None)
        aliases = {
            name: variables
            for name, variables in variable_names(GatewaySettings).items()
            if name not in values and len(variables) > 1
        }
        return [*unknown_variables(found), *alias_conflicts(found, aliases), *self._key_warnings()]

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
            raise ConfigError(validation_problems(cls, exc)) from None
        return settings

    def _replace(self, **changes: Any) -> Self:
        problems = argument_problems(GatewaySettings, changes, _SOURCE_ARGUMENTS)
        try:
            settings = self._validated({**dict(self), **changes})
        except ConfigError as exc:
            problems += exc.problems
        else:
            problems += root_override_problems(settings.base_url, changes)
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


# -- helpers ------------------------------------------------------------------------------


def resolve(settings: GatewaySettings | None, overrides: Mapping[str, Any]) -> GatewaySettings:
    """``settings`` with ``overrides`` applied; by default the environment's, remembered while
    it stays the same (its warnings are given again on every call)."""
    if settings is None and not overrides:
        settings, messages = from_environment()
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=3)
        return settings
    if settings is None:
        return GatewaySettings(**overrides)
    return settings._replace(**overrides) if overrides else settings


# Earlier reads: (the variables cfgenai reads, working directory, .env bytes) -> result.
_READS: dict[tuple[object, ...], tuple[GatewaySettings, list[str]]] = {}


def from_environment() -> tuple[GatewaySettings, list[str]]:
    """``GatewaySettings()`` and the warnings it gives, remembered for as long as the
    environment, the working directory and the bytes of the ``.env`` file stay the same
    (settings are frozen, so one object serves every client built from them)."""
    name = os.environ.get(ENV_FILE)
    path = Path(".env" if name is None else name.strip())
    try:
        dotenv = path.read_bytes() if name is None or name.strip() else None
    except OSError:
        dotenv = None
    read = _read_variables()
    variables = tuple(
        (k, v) for k, v in os.environ.items() if k.upper() in read or k.upper().startswith(PREFIX)
    )
    key = (variables, os.getcwd(), dotenv)
    known = _READS.get(key)
    if known is None:
        settings = GatewaySettings.__new__(GatewaySettings)
        known = settings, settings._read({})
        if len(_READS) >= 16:
            _READS.clear()
        _READS[key] = known
    return known[0], list(known[1])


@functools.cache
def _read_variables() -> frozenset[str]:
    # Other variables (PYTEST_CURRENT_TEST...) change all the time and change nothing here;
    # a CF_AIG_ one that no setting reads still brings its warning.
    return frozenset(n for names in variable_names(GatewaySettings).values() for n in names)


def variable(field: str) -> str:
    """The environment variable(s) that set ``field``, as a user would write them."""
    return _validators.variable(GatewaySettings, field)


def unknown_variables(found: Iterable[tuple[str, dict[str, str]]]) -> list[str]:
    """A line for each ``CF_AIG_*`` variable set in ``found`` that no setting reads."""
    names = variable_names(GatewaySettings).values()
    return _unknown_variables(list(found), (n for variables in names for n in variables))
