"""The settings' checks: each value on its own, then the values together, in one ConfigError.

``SettingsChecks`` is mixed into ``GatewaySettings``, which declares the fields; the single
values' rules live in ``_checks``. Every problem names the variable that sets the value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import _checks
from ._checks import PROVIDER, VERTEX
from ._errors import ConfigError
from ._options import PER_REQUEST_ONLY

DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 24 * 3600.0
DEFAULT_RETRIES = 2
SECRET_FIELDS = (
    "token",
    "google_api_key",
    "gemini_api_key",
    "vertex_access_token",
    "access_token",
    "access_client_secret",
    "api_token",
)
# Tokens that cfgenai (or the header) already prefixes with the Bearer scheme.
BEARER_FIELDS = ("token", "vertex_access_token", "access_token", "api_token")
# Explicit overrides that CF_AIG_BASE_URL would silently make meaningless.
ROOT_FIELDS = ("account_id", "gateway_id")
NOT_SET = ": not set;"

_ACCOUNT_ID = re.compile(r"[0-9a-fA-F]{32}")
_GATEWAY_ID = re.compile(r"[a-z0-9-]{1,64}")
_API_VERSION = re.compile(r"v[0-9]+(?:(?:alpha|beta)[0-9]*)?")
# google-genai passes these prefixes through on the Gemini API (its t_model).
_MODEL = re.compile(r"(?:models/|tunedModels/)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


class SettingsChecks(BaseModel):
    """The field validators of ``GatewaySettings`` and its one wrap validator."""

    model_config = ConfigDict(defer_build=True)  # never validated on its own

    @field_validator(*PER_REQUEST_ONLY, mode="after", check_fields=False)
    @classmethod
    def _no_client_wide_cache_key(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            why = (
                "a client-wide cache key would give every request the same cached answer"
                if info.field_name == "cache_key"
                else "a client-wide trace id would put every request in one trace (cfgenai "
                "sends the current OpenTelemetry span's ids by default, see CF_AIG_OTEL)"
            )
            raise ValueError(
                f"{why}; unset it and pass cfgenai.request_options({info.field_name}=...) "
                "per request"
            )
        return value

    @field_validator("account_id", mode="before", check_fields=False)
    @classmethod
    def _check_account_id(cls, value: Any) -> Any:
        value = _checks.optional_string(value)
        if value is not None and not _ACCOUNT_ID.fullmatch(value):
            raise ValueError(
                "must be the 32-character hexadecimal account id shown in the Cloudflare "
                "dashboard" + _checks.describe(value, "[0-9a-fA-F]", "letters after f")
            )
        return value

    @field_validator("gateway_id", mode="before", check_fields=False)
    @classmethod
    def _check_gateway_id(cls, value: Any) -> Any:
        value = _required_string(value)
        if not _GATEWAY_ID.fullmatch(value):
            raise ValueError(
                "must be the gateway's id: 1 to 64 lowercase letters, digits and hyphens"
                + _checks.describe(value, "[a-z0-9-]")
            )
        return value

    @field_validator(*SECRET_FIELDS, mode="before", check_fields=False)
    @classmethod
    def _check_secret(cls, value: Any, info: ValidationInfo) -> Any:
        return _checks.secret(value, bearer=info.field_name in BEARER_FIELDS)

    @field_validator("mode", mode="before", check_fields=False)
    @classmethod
    def _check_mode(cls, value: Any) -> Any:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in ("auto", "key", "byok"):
            raise ValueError(
                "must be key (send your Google key), byok (the gateway adds a key stored "
                "in Cloudflare) or auto (key when a Google key is set, else byok)"
            )
        return value

    @field_validator("base_url", mode="before", check_fields=False)
    @classmethod
    def _check_base_url(cls, value: Any) -> Any:
        value = _checks.optional_string(value)
        if value is None:
            return None
        problems = _checks.base_url_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("api_base_url", mode="before", check_fields=False)
    @classmethod
    def _check_api_base_url(cls, value: Any) -> Any:
        value = _required_string(value)
        problems = _checks.url_problems(
            value,
            "https://api.cloudflare.com/client/v4 or http://127.0.0.1:6787/client/v4",
            "put the API token in CLOUDFLARE_API_TOKEN",
        )
        if problems:
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("otel", mode="before", check_fields=False)
    @classmethod
    def _check_otel(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = {"true": True, "1": True, "false": False, "0": False}.get(
                value.strip().lower(), value
            )
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    @field_validator("api_version", mode="before", check_fields=False)
    @classmethod
    def _check_api_version(cls, value: Any) -> Any:
        if not _API_VERSION.fullmatch(_required_string(value)):
            raise ValueError("must be a Gemini API version such as v1 or v1beta")
        return value.strip()

    @field_validator("provider", mode="before", check_fields=False)
    @classmethod
    def _check_provider(cls, value: Any) -> Any:
        value = value.strip().lower() if isinstance(value, str) else value
        if value not in (PROVIDER, VERTEX):
            raise ValueError(
                f"must be {PROVIDER} (the Gemini API) or {VERTEX} (Gemini on Vertex AI)"
            )
        return value

    @field_validator(
        "vertex_project", "vertex_location", "access_client_id", mode="before", check_fields=False
    )
    @classmethod
    def _check_path_safe(cls, value: Any) -> Any:
        return _checks.path_segment(value)

    @field_validator("model", mode="before", check_fields=False)
    @classmethod
    def _check_model(cls, value: Any) -> Any:
        value = _required_string(value)
        if not _MODEL.fullmatch(value):
            raise ValueError(
                "must be a model name such as gemini-2.5-flash or models/gemini-2.5-flash"
            )
        return value

    @field_validator("timeout", mode="before", check_fields=False)
    @classmethod
    def _check_timeout(cls, value: Any) -> Any:
        seconds = _checks.number(value, float)
        if seconds is None or not 0 < seconds <= MAX_TIMEOUT:
            raise ValueError(
                f"must be a number of seconds greater than 0 and at most {MAX_TIMEOUT:g} "
                f"(24 hours), e.g. 30; unset it for {DEFAULT_TIMEOUT:g}"
            )
        return seconds

    @field_validator("retries", mode="before", check_fields=False)
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
            problems = validation_problems(cls, exc)
        if isinstance(data, Mapping):
            problems += combination_problems(cls, data)
        if problems:
            raise ConfigError(problems)
        return settings


# -- naming the variable ----------------------------------------------------------------------


@functools.cache
def variable_names(model: type[BaseModel]) -> dict[str, list[str]]:
    """Each field's environment variables, the first one winning."""
    return {
        name: [str(n) for n in alias.choices] if isinstance(alias, AliasChoices) else [name]
        for name, info in model.model_fields.items()
        for alias in [info.validation_alias]
    }


@functools.cache
def field_by_key(model: type[BaseModel]) -> dict[str, str]:
    """The field for a field name or (lowercased) variable name."""
    return {
        key: name
        for name, names in variable_names(model).items()
        for key in (name, *(n.lower() for n in names))
    }


def variable(model: type[BaseModel], field: str) -> str:
    """The environment variable(s) that set ``field``, as a user would write them."""
    names = variable_names(model)[field]
    return " (or ".join(names) + ")" * (len(names) - 1)


def argument_problems(
    model: type[BaseModel], values: Mapping[str, Any], source_arguments: frozenset[str]
) -> list[str]:
    """Keyword arguments that are no setting: pydantic would silently drop them."""
    problems = []
    for key in values:
        if key.lower() in field_by_key(model) or key in source_arguments:
            continue
        if key == "api_key":
            hint = (
                "the Google key is google_api_key (GOOGLE_API_KEY) or gemini_api_key "
                "(GEMINI_API_KEY); on Vertex AI, vertex_access_token"
            )
        else:
            import difflib

            close = difflib.get_close_matches(key, model.model_fields, n=1)
            hint = f"did you mean {close[0]}?" if close else "`cfgenai env` lists the settings"
        problems.append(f"{key}: not a setting of cfgenai; {hint}")
    return problems


def root_override_problems(base_url: str | None, overrides: Mapping[str, Any]) -> list[str]:
    """Explicit account or gateway ids that ``base_url`` would make meaningless."""
    if base_url is None:
        return []
    return [
        f"{name}: passed explicitly, but CF_AIG_BASE_URL is set and names the gateway root, "
        f"so {name} would be ignored; put the gateway in the base URL (base_url=...), or "
        "unset CF_AIG_BASE_URL"
        for name in ROOT_FIELDS
        if overrides.get(name) is not None
    ]


def mention_env_file(problems: list[str], env_file: Any) -> list[str]:
    """Problems, with "not set" ones saying that no ``.env`` file was found."""
    if env_file is None or not isinstance(env_file, str | Path) or Path(env_file).is_file():
        return problems
    where = f" (no .env file was found at {Path(env_file).absolute()})"
    return [p + where if NOT_SET in p else p for p in problems]


def validation_problems(model: type[BaseModel], exc: ValidationError) -> list[str]:
    """One line per problem pydantic found, each naming its variable."""
    problems: list[str] = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            problems += cause.problems
            continue
        message = str(cause) if cause is not None else error["msg"]
        key = str(error["loc"][0]) if error["loc"] else ""
        field = field_by_key(model).get(key.lower(), field_by_key(model).get(key))
        problems.append(f"{variable(model, field)}: {message}" if field else message)
    return problems


def combination_problems(model: type[BaseModel], data: Mapping[str, Any]) -> list[str]:
    """Problems of fields together, read from the raw input ``data``."""
    names = field_by_key(model)
    raw = {names.get(str(k).lower(), str(k)): _text(v) for k, v in data.items()}
    problems = []
    if not raw.get("account_id") and not raw.get("base_url"):
        problems.append(
            f"{variable(model, 'account_id')}{NOT_SET} set it to your Cloudflare account id "
            "(dashboard > AI > AI Gateway), or set CF_AIG_BASE_URL to the gateway's root URL"
        )
    vertex = raw.get("provider", "").lower() == VERTEX
    if vertex:
        problems += [
            f"{variable(model, name)}{NOT_SET} {VERTEX} needs the Google Cloud {what}"
            for name, what in (("vertex_project", "project"), ("vertex_location", "region"))
            if not raw.get(name)
        ]
        if "/" in raw.get("model", ""):
            problems.append(
                f"{variable(model, 'model')}: on {VERTEX} name the model alone, e.g. gemini-2.5-flash "
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
            f"{variable(model, 'token')}{NOT_SET} {why} the gateway authenticates the request "
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
