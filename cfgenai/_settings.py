"""GatewaySettings: every knob, read from arguments > environment > ``.env`` > defaults."""

from __future__ import annotations

import ipaddress
import math
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._errors import ConfigError
from ._options import PER_REQUEST_ONLY, GatewayOptions

CLOUDFLARE_GATEWAY_HOST = "https://gateway.ai.cloudflare.com"
PROVIDER = "google-ai-studio"
DEFAULT_API_VERSION = "v1"  # google-genai's own default for the Gemini API
DEFAULT_TIMEOUT = 120.0
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
VERTEX = "google-vertex-ai"

_ACCOUNT_ID = re.compile(r"[0-9a-fA-F]{32}")
_GATEWAY_ID = re.compile(r"[a-z0-9-]{1,64}")
_API_VERSION = re.compile(r"v\d+(?:(?:alpha|beta)\d*)?")
_PATH_SAFE = re.compile(r"[A-Za-z0-9.:_-]{1,128}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_NOT_HEADER_SAFE = re.compile(r"[^\x20-\x7e]")


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
        env_file_encoding="utf-8",
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
        description="Client-side timeout per request, in seconds.",
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
        description="Model for `cfgenai ask` and `cfgenai doctor --ping`.",
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
        description="Vertex AI region, e.g. `us-central1` (the gateway needs a region, not "
        "`global`). Required with `google-vertex-ai`.",
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
        problems: list[str] = []
        if "_env_file" not in values:
            values["_env_file"], problems = env_file_from_environment()
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError(problems + _problems(exc)) from None
        if problems:
            raise ConfigError(problems)
        if self.google_api_key and self.gemini_api_key not in (None, self.google_api_key):
            warnings.warn(
                "GOOGLE_API_KEY and GEMINI_API_KEY are both set and differ; using "
                "GOOGLE_API_KEY (as google-genai does). Unset the one you do not mean.",
                UserWarning,
                stacklevel=2,
            )

    @classmethod
    def _validated(cls, data: Mapping[str, Any]) -> Self:
        """A settings object from ``data`` alone, without reading any source."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_problems(exc)) from None

    def _replace(self, **changes: Any) -> Self:
        return self._validated({**dict(self), **changes})

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
    def resolved_mode(self) -> Literal["key", "byok"]:
        if self.mode == "auto":
            return "key" if self.provider_key else "byok"
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
        return f"{self.provider_url}/{self.api_version}/models/{model}:{method}"

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
        value = _blank_to_none(value)
        if value is not None and not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(
                "must be the 32-character hexadecimal account id shown in the Cloudflare "
                f"dashboard{_what_is_wrong(value, r'[0-9a-fA-F]')}"
            )
        return value

    @field_validator("gateway_id", mode="before")
    @classmethod
    def _check_gateway_id(cls, value: Any) -> Any:
        if isinstance(value, str) and not _GATEWAY_ID.fullmatch(value.strip()):
            raise ValueError(
                "must be the gateway's id: 1 to 64 lowercase letters, digits and hyphens"
                f"{_what_is_wrong(value.strip(), r'[a-z0-9-]')}"
            )
        return value.strip() if isinstance(value, str) else value

    @field_validator(*SECRET_FIELDS, mode="before")
    @classmethod
    def _check_secret(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        value = _blank_to_none(value)
        if value is not None and _NOT_HEADER_SAFE.search(value):
            raise ValueError(
                "contains a line break, control character or non-ASCII character, which "
                "cannot be sent in an HTTP header; copy the value again without them"
            )
        return value

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
        value = _blank_to_none(value)
        if value is None:
            return None
        problems = _base_url_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("api_version", mode="before")
    @classmethod
    def _check_api_version(cls, value: Any) -> Any:
        value = value.strip() if isinstance(value, str) else value
        if not isinstance(value, str) or not _API_VERSION.fullmatch(value):
            raise ValueError("must be a Gemini API version such as v1 or v1beta")
        return value

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
        value = _blank_to_none(value)
        if value is not None and not _PATH_SAFE.fullmatch(value):
            raise ValueError(
                "may hold only letters, digits, '.', ':', '_' and '-'"
                f"{_what_is_wrong(value, r'[A-Za-z0-9.:_-]')}"
            )
        return value

    @field_validator("vertex_location", mode="after")
    @classmethod
    def _check_region(cls, value: str | None) -> str | None:
        if value == "global":
            raise ValueError(
                "global is not routed by the gateway: use a region such as us-central1 or "
                "europe-west4"
            )
        return value

    @field_validator("model", mode="before")
    @classmethod
    def _check_model(cls, value: Any) -> Any:
        value = value.strip() if isinstance(value, str) else value
        if not isinstance(value, str) or not _MODEL.fullmatch(value):
            raise ValueError("must be a model name such as gemini-2.5-flash")
        return value

    @field_validator("timeout", mode="before")
    @classmethod
    def _check_timeout(cls, value: Any) -> Any:
        seconds = _number(value, float)
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(
                f"must be a number of seconds greater than 0, e.g. 30; unset it for {DEFAULT_TIMEOUT:g}"
            )
        return seconds

    @field_validator("retries", mode="before")
    @classmethod
    def _check_retries(cls, value: Any) -> Any:
        count = _number(value, int)
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


def variable(field: str) -> str:
    """The environment variable(s) that set ``field``, as a user would write them."""
    alias = GatewaySettings.model_fields[field].validation_alias
    names = alias.choices if isinstance(alias, AliasChoices) else [field]
    return " (or ".join(str(n) for n in names) + ")" * (len(names) - 1)


_FIELD_BY_KEY: dict[str, str] = {}
for _name, _info in GatewaySettings.model_fields.items():
    _FIELD_BY_KEY[_name] = _name
    if isinstance(_info.validation_alias, AliasChoices):
        for _choice in _info.validation_alias.choices:
            _FIELD_BY_KEY[str(_choice).lower()] = _name


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
            f"{variable('account_id')}: not set; set it to your Cloudflare account id "
            "(dashboard > AI > AI Gateway), or set CF_AIG_BASE_URL to the gateway's root URL"
        )
    vertex = raw.get("provider", "").lower() == VERTEX
    if vertex:
        problems += [
            f"{variable(name)}: not set; {VERTEX} needs the Google Cloud {what}"
            for name, what in (("vertex_project", "project"), ("vertex_location", "region"))
            if not raw.get(name)
        ]
    if bool(raw.get("access_client_id")) != bool(raw.get("access_client_secret")):
        problems.append(
            "CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET: a Cloudflare Access "
            "service token needs both; set the missing one or unset both"
        )
    mode = raw.get("mode", "").lower() or "auto"
    key_names = "CF_AIG_VERTEX_ACCESS_TOKEN" if vertex else "GOOGLE_API_KEY (or GEMINI_API_KEY)"
    has_key = bool(
        raw.get("vertex_access_token")
        if vertex
        else raw.get("google_api_key") or raw.get("gemini_api_key")
    )
    if mode == "key" and not has_key:
        problems.append(
            f"CF_AIG_MODE=key needs the provider's credential: set {key_names}, or use "
            "CF_AIG_MODE=byok to let the gateway add the credential it stores"
        )
    cloudflare = raw.get("token") or raw.get("access_token") or raw.get("access_client_id")
    if (mode == "byok" or (mode == "auto" and not has_key)) and not cloudflare:
        why = "CF_AIG_MODE=byok" if mode == "byok" else "without a provider credential (byok mode)"
        problems.append(
            f"{variable('token')}: not set; {why} the gateway authenticates the request "
            f"with its token alone. Set CF_AIG_TOKEN to an AI Gateway token, or set "
            f"{key_names.split(' (')[0]} to send your own credential"
        )
    return problems


def env_file_from_environment() -> tuple[Path | None, list[str]]:
    name = os.environ.get("CF_AIG_ENV_FILE")
    if name is None:
        return Path(".env"), []
    if not name.strip():
        return None, []
    path = Path(name.strip())
    if not path.is_file():
        return None, [
            "CF_AIG_ENV_FILE: names a file that does not exist or is not a file; "
            "point it at your .env file, or set it empty to read no file"
        ]
    return path, []


def _base_url_problems(url: str) -> list[str]:
    if _NOT_HEADER_SAFE.search(url) or " " in url:
        return ["must not contain spaces, line breaks or non-ASCII characters"]
    parts = urlsplit(url)
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        return ["has an invalid port"]
    if parts.scheme not in ("http", "https") or not host:
        return [
            "must be an absolute URL such as https://ai.example.com or "
            "http://127.0.0.1:8787/v1/ACCOUNT/GATEWAY"
        ]
    problems = []
    if parts.scheme == "http" and not is_loopback(host):
        problems.append("must use https:// (plain http is only allowed for loopback hosts)")
    if "@" in parts.netloc:
        problems.append("must not contain credentials; put the gateway token in CF_AIG_TOKEN")
    if "?" in url or "#" in url:
        problems.append("must not have a query (?) or fragment (#)")
    if ".." in parts.path.split("/") or "%" in parts.path:
        problems.append("must not contain '..' segments or percent-escapes in its path")
    segment = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if segment in (PROVIDER, VERTEX, "compat"):
        problems.append(
            f"must be the gateway root: drop the trailing /{segment}, cfgenai appends it"
        )
    return problems


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _what_is_wrong(value: str, allowed: str) -> str:
    """A description of ``value``'s faults that never repeats the value itself."""
    bad = sorted({c for c in value if not re.fullmatch(allowed, c)})
    facts = f"it has {len(value)} characters"
    if bad:
        facts += ", including " + ", ".join(repr(c) for c in bad[:8])
    return f" ({facts})"


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _number(value: Any, kind: type[float] | type[int]) -> Any:
    if isinstance(value, bool):
        return None
    try:
        number = kind(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if kind is float or number == value or isinstance(value, str) else None


def _text(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return "" if value is None else str(value).strip()
