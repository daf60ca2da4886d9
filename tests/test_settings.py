"""GatewaySettings: sources, precedence, aliases, defaults and every bad input."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import pytest

from cfgenai import ConfigError, GatewaySettings, _plan

from .conftest import ACCOUNT_ID, CANARIES, GOOGLE_KEY, TOKEN, Build


def test_defaults() -> None:
    settings = GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN)
    assert settings.gateway_id == "default"
    assert settings.mode == "auto"
    assert settings.resolved_mode == "byok"
    assert settings.api_version == "v1"
    assert settings.timeout == 120.0
    assert settings.retries == 2
    assert _plan.provider_url(settings) == (
        f"https://gateway.ai.cloudflare.com/v1/{ACCOUNT_ID}/default/google-ai-studio"
    )


def test_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "CF_AIG_ACCOUNT_ID": ACCOUNT_ID,
        "CF_AIG_GATEWAY_ID": "prod-1",
        "CF_AIG_TOKEN": TOKEN,
        "GOOGLE_API_KEY": GOOGLE_KEY,
        "CF_AIG_MODE": "KEY",
        "CF_AIG_API_VERSION": "v1beta",
        "CF_AIG_TIMEOUT": "2.5",
        "CF_AIG_RETRIES": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert (settings.account_id, settings.gateway_id, settings.mode) == (
        ACCOUNT_ID,
        "prod-1",
        "key",
    )
    assert settings.token is not None and settings.token.get_secret_value() == TOKEN
    assert settings.api_key is not None and settings.api_key.get_secret_value() == GOOGLE_KEY
    assert (settings.api_version, settings.timeout, settings.retries) == ("v1beta", 2.5, 0)
    assert _plan.provider_url(settings).endswith(f"/v1/{ACCOUNT_ID}/prod-1/google-ai-studio")


@pytest.mark.parametrize(
    ("alias", "field", "value"),
    [
        ("CLOUDFLARE_ACCOUNT_ID", "account_id", "f" * 32),
        ("CLOUDFLARE_GATEWAY_ID", "gateway_id", "from-alias"),
        ("CLOUDFLARE_GATEWAY_TOKEN", "token", TOKEN),
    ],
)
def test_aliases_are_accepted_and_lose_to_the_cf_aig_name(
    monkeypatch: pytest.MonkeyPatch, alias: str, field: str, value: str
) -> None:
    monkeypatch.setenv("CF_AIG_ACCOUNT_ID", ACCOUNT_ID)
    monkeypatch.setenv("CF_AIG_TOKEN", "canonical-token")
    monkeypatch.delenv(f"CF_AIG_{field.upper()}", raising=False)
    monkeypatch.setenv(alias, value)
    assert _plain(getattr(GatewaySettings(), field)) == value
    canonical = {"account_id": "a" * 32, "gateway_id": "canonical", "token": "canonical-token"}
    monkeypatch.setenv(f"CF_AIG_{field.upper()}", canonical[field])
    with pytest.warns(UserWarning, match="are both set and differ"):
        assert _plain(getattr(GatewaySettings(), field)) == canonical[field]


def _plain(value: object) -> object:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else value


@pytest.mark.parametrize(
    ("argument", "environment", "dotenv", "expected"),
    [
        ("from-arg", "from-env", "from-dotenv", "from-arg"),
        (None, "from-env", "from-dotenv", "from-env"),
        (None, None, "from-dotenv", "from-dotenv"),
        (None, None, None, "default"),
        ("from-arg", None, "from-dotenv", "from-arg"),
    ],
)
def test_precedence_arguments_environment_dotenv_defaults(
    monkeypatch: pytest.MonkeyPatch,
    argument: str | None,
    environment: str | None,
    dotenv: str | None,
    expected: str,
) -> None:
    lines = [f"CF_AIG_ACCOUNT_ID={ACCOUNT_ID}", f"CF_AIG_TOKEN={TOKEN}"]
    if dotenv:
        lines.append(f"CF_AIG_GATEWAY_ID={dotenv}")
    Path(".env").write_text("\n".join(lines) + "\n")
    if environment:
        monkeypatch.setenv("CF_AIG_GATEWAY_ID", environment)
    kwargs = {"gateway_id": argument} if argument else {}
    assert GatewaySettings(**kwargs).gateway_id == expected


def test_alias_in_environment_beats_canonical_name_in_dotenv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    Path(".env").write_text(f"CF_AIG_ACCOUNT_ID={'a' * 32}\nCF_AIG_TOKEN=t\n")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID)
    with pytest.warns(UserWarning, match="both set and differ") as caught:
        assert GatewaySettings().account_id == ACCOUNT_ID
    assert [str(w.message) for w in caught] == [
        "CF_AIG_ACCOUNT_ID and CLOUDFLARE_ACCOUNT_ID are both set and differ; using "
        "CLOUDFLARE_ACCOUNT_ID. Unset the one you do not mean."
    ]


def test_dotenv_with_unrelated_lines_and_no_environment_writes() -> None:
    Path(".env").write_text(
        f"# a comment\nDATABASE_URL=postgres://x\nexport CF_AIG_ACCOUNT_ID={ACCOUNT_ID}\n"
        f"cf_aig_token='{TOKEN}'\n"
    )
    before = dict(os.environ)
    settings = GatewaySettings()
    assert settings.account_id == ACCOUNT_ID
    assert settings.token is not None and settings.token.get_secret_value() == TOKEN
    assert dict(os.environ) == before


def test_env_file_variable_names_the_file_and_empty_disables_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    Path(".env").write_text("CF_AIG_GATEWAY_ID=from-default-file\n")
    other = tmp_path / "ci.env"
    other.write_text("CF_AIG_GATEWAY_ID=from-named-file\n")
    base = {"account_id": ACCOUNT_ID, "token": TOKEN}
    assert GatewaySettings(**base).gateway_id == "from-default-file"
    monkeypatch.setenv("CF_AIG_ENV_FILE", str(other))
    assert GatewaySettings(**base).gateway_id == "from-named-file"
    monkeypatch.setenv("CF_AIG_ENV_FILE", "")
    assert GatewaySettings(**base).gateway_id == "default"


@pytest.mark.parametrize(
    ("google", "gemini", "expected", "warns"),
    [
        ("g-key", None, "g-key", False),
        (None, "m-key", "m-key", False),
        ("g-key", "g-key", "g-key", False),
        ("g-key", "m-key", "g-key", True),
    ],
)
def test_google_api_key_wins_over_gemini_api_key(
    monkeypatch: pytest.MonkeyPatch,
    google: str | None,
    gemini: str | None,
    expected: str,
    warns: bool,
) -> None:
    monkeypatch.setenv("CF_AIG_ACCOUNT_ID", ACCOUNT_ID)
    if google:
        monkeypatch.setenv("GOOGLE_API_KEY", google)
    if gemini:
        monkeypatch.setenv("GEMINI_API_KEY", gemini)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = GatewaySettings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == expected
    assert settings.resolved_mode == "key"
    assert [str(w.message) for w in caught] == (
        [
            "GOOGLE_API_KEY and GEMINI_API_KEY are both set and differ; using GOOGLE_API_KEY "
            "(as google-genai does). Unset the one you do not mean."
        ]
        if warns
        else []
    )


@pytest.mark.parametrize(
    ("mode", "google_key", "expected"),
    [
        ("auto", GOOGLE_KEY, "key"),
        ("auto", None, "byok"),
        ("byok", GOOGLE_KEY, "byok"),
        ("key", GOOGLE_KEY, "key"),
    ],
)
def test_mode_resolution(mode: str, google_key: str | None, expected: str) -> None:
    settings = GatewaySettings(
        account_id=ACCOUNT_ID, token=TOKEN, mode=mode, google_api_key=google_key
    )
    assert settings.resolved_mode == expected


def test_secrets_are_stripped_of_surrounding_whitespace() -> None:
    settings = GatewaySettings(
        account_id=ACCOUNT_ID, token=f"  {TOKEN}\n", google_api_key=f"\t{GOOGLE_KEY} "
    )
    assert settings.token is not None and settings.token.get_secret_value() == TOKEN
    assert settings.api_key is not None and settings.api_key.get_secret_value() == GOOGLE_KEY


def test_base_url_replaces_account_and_gateway() -> None:
    settings = GatewaySettings(base_url="https://ai.example.com/", token=TOKEN)
    assert _plan.provider_url(settings) == "https://ai.example.com/google-ai-studio"
    local = GatewaySettings(base_url="http://127.0.0.1:8787/v1/acc/gw", token=TOKEN)
    assert _plan.provider_url(local) == "http://127.0.0.1:8787/v1/acc/gw/google-ai-studio"
    assert (
        GatewaySettings(base_url="http://[::1]:8787", token=TOKEN).base_url == "http://[::1]:8787"
    )
    assert (
        GatewaySettings(base_url="http://localhost:1", token=TOKEN).base_url == "http://localhost:1"
    )


ACCOUNT = "CF_AIG_ACCOUNT_ID (or CLOUDFLARE_ACCOUNT_ID): "
GATEWAY = "CF_AIG_GATEWAY_ID (or CLOUDFLARE_GATEWAY_ID): "
TOKEN_VAR = "CF_AIG_TOKEN (or CLOUDFLARE_GATEWAY_TOKEN): "
BASE = "CF_AIG_BASE_URL: "
HEADER_UNSAFE = (
    "contains a line break, control character or non-ASCII character, which cannot be sent "
    "in an HTTP header; copy the value again without them"
)
ACCOUNT_FORMAT = "must be the 32-character hexadecimal account id shown in the Cloudflare dashboard"
GATEWAY_FORMAT = "must be the gateway's id: 1 to 64 lowercase letters, digits and hyphens"
GOOD = {"CF_AIG_ACCOUNT_ID": ACCOUNT_ID, "CF_AIG_TOKEN": TOKEN}
# Added to "not set" problems when no .env file was found (<CWD>: the test's directory).
NO_ENV = " (no .env file was found at <CWD>/.env)"
TIMEOUT_RANGE = (
    "CF_AIG_TIMEOUT: must be a number of seconds greater than 0 and at most 86400 (24 hours), "
    "e.g. 30; unset it for 120"
)
MODEL_FORMAT = (
    "CF_AIG_MODEL: must be a model name such as gemini-2.5-flash or models/gemini-2.5-flash"
)
BEARER = "starts with 'Bearer ': set the token alone; cfgenai adds Bearer"
PLACEHOLDER = "is a placeholder, not a credential: set the real value or unset it"
CUT_BEFORE = (
    "must be the gateway root: cut it before /{} (cfgenai appends the provider and the model path)"
)
CF_HOST = (
    "a gateway.ai.cloudflare.com URL must be https://gateway.ai.cloudflare.com/v1/ACCOUNT_ID/"
    "GATEWAY_ID, but {}; fix it, or unset CF_AIG_BASE_URL and set CF_AIG_ACCOUNT_ID and "
    "CF_AIG_GATEWAY_ID"
)
SEED_URL = (
    "https://gateway.ai.cloudflare.com/v1/{account_id}/{gateway_id}/google-ai-studio/v1/"
    "models/gemini-2.5-flash:generateContent"
)

BAD_ENVIRONMENTS = [
    pytest.param(
        {},
        [
            ACCOUNT
            + "not set; set it to your Cloudflare account id (dashboard > AI > AI Gateway), "
            "or set CF_AIG_BASE_URL to the gateway's root URL" + NO_ENV,
            TOKEN_VAR + "not set; without a provider credential (byok mode) the gateway needs its "
            "token: set CF_AIG_TOKEN to an AI Gateway token, or set GOOGLE_API_KEY to send your "
            "own credential" + NO_ENV,
        ],
        id="nothing-set",
    ),
    pytest.param(
        {"CF_AIG_ACCOUNT_ID": "abc/def"},
        [
            ACCOUNT
            + ACCOUNT_FORMAT
            + ", not a URL: keep only the id (/v1/ACCOUNT_ID/GATEWAY_ID in a gateway URL), "
            "or unset it and set CF_AIG_BASE_URL"
        ],
        id="account-slash",
    ),
    pytest.param(
        {"CF_AIG_ACCOUNT_ID": "../" + "a" * 29},
        [
            ACCOUNT
            + ACCOUNT_FORMAT
            + ", not a URL: keep only the id (/v1/ACCOUNT_ID/GATEWAY_ID in a gateway URL), "
            "or unset it and set CF_AIG_BASE_URL"
        ],
        id="account-dotdot",
    ),
    pytest.param(
        {"CF_AIG_ACCOUNT_ID": "a" * 31 + "?"},
        [ACCOUNT + ACCOUNT_FORMAT + " (it has 32 characters, including punctuation)"],
        id="account-query",
    ),
    pytest.param(
        {"CF_AIG_ACCOUNT_ID": "a" * 16 + " " + "a" * 15},
        [ACCOUNT + ACCOUNT_FORMAT + " (it has 32 characters, including spaces)"],
        id="account-space",
    ),
    pytest.param(
        {"CF_AIG_ACCOUNT_ID": "a" * 33},
        [ACCOUNT + ACCOUNT_FORMAT + " (it has 33 characters)"],
        id="account-long",
    ),
    pytest.param(
        {"CF_AIG_GATEWAY_ID": "prod#1"},
        [GATEWAY + GATEWAY_FORMAT + " (it has 6 characters, including punctuation)"],
        id="gateway-hash",
    ),
    pytest.param(
        {"CF_AIG_GATEWAY_ID": "a%2fb"},
        [GATEWAY + GATEWAY_FORMAT + " (it has 5 characters, including punctuation)"],
        id="gateway-percent",
    ),
    pytest.param(
        {"CF_AIG_GATEWAY_ID": "Prod"},
        [GATEWAY + GATEWAY_FORMAT + " (it has 4 characters, including uppercase letters)"],
        id="gateway-upper",
    ),
    pytest.param(
        {"CF_AIG_GATEWAY_ID": "g" * 65},
        [GATEWAY + GATEWAY_FORMAT + " (it has 65 characters)"],
        id="gateway-long",
    ),
    pytest.param(
        {"CF_AIG_MODE": "bring-your-own"},
        [
            "CF_AIG_MODE: must be key (send your Google key), byok (the gateway adds a key stored "
            "in Cloudflare) or auto (key when a Google key is set, else byok)"
        ],
        id="mode-unknown",
    ),
    pytest.param(
        {"CF_AIG_MODE": "key"},
        [
            "CF_AIG_MODE=key needs the provider's credential: set GOOGLE_API_KEY (or GEMINI_API_KEY), "
            "or use CF_AIG_MODE=byok to let the gateway add the credential it stores"
        ],
        id="key-mode-no-key",
    ),
    pytest.param(
        {"CF_AIG_MODE": "byok", "CF_AIG_TOKEN": "", "GOOGLE_API_KEY": GOOGLE_KEY},
        [
            TOKEN_VAR + "not set; CF_AIG_MODE=byok the gateway needs its token: set CF_AIG_TOKEN "
            "to an AI Gateway token, or set GOOGLE_API_KEY to send your own credential" + NO_ENV
        ],
        id="byok-no-token",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "http://ai.example.com"},
        [BASE + "must use https:// (plain http is only allowed for loopback hosts)"],
        id="base-http",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com/?x=1"},
        [BASE + "must not have a query (?) or fragment (#)"],
        id="base-query",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com/#frag"},
        [BASE + "must not have a query (?) or fragment (#)"],
        id="base-fragment",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "ai.example.com"},
        [
            BASE
            + "must be an absolute URL such as https://ai.example.com or http://127.0.0.1:6787/v1/ACCOUNT/GATEWAY"
        ],
        id="base-relative",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://u:p@ai.example.com"},
        [BASE + "must not contain credentials; put the gateway token in CF_AIG_TOKEN"],
        id="base-userinfo",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com/a/../b"},
        [BASE + "must not contain '..' segments or percent-escapes in its path"],
        id="base-dotdot",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com/google-ai-studio"},
        [BASE + CUT_BEFORE.format("google-ai-studio")],
        id="base-provider",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com:99999"},
        [BASE + "has an invalid port"],
        id="base-port",
    ),
    pytest.param(
        {"CF_AIG_API_VERSION": "v1/../v2"},
        ["CF_AIG_API_VERSION: must be a Gemini API version such as v1 or v1beta"],
        id="api-version",
    ),
    pytest.param(
        {"CF_AIG_TIMEOUT": "soon"},
        [TIMEOUT_RANGE],
        id="timeout-text",
    ),
    pytest.param(
        {"CF_AIG_TIMEOUT": "0"},
        [TIMEOUT_RANGE],
        id="timeout-zero",
    ),
    pytest.param(
        {"CF_AIG_TIMEOUT": "-5"},
        [TIMEOUT_RANGE],
        id="timeout-negative",
    ),
    pytest.param(
        {"CF_AIG_TIMEOUT": "inf"},
        [TIMEOUT_RANGE],
        id="timeout-infinite",
    ),
    pytest.param(
        {"CF_AIG_RETRIES": "two"},
        ["CF_AIG_RETRIES: must be a whole number from 0 (no retries) to 10; unset it for 2"],
        id="retries-text",
    ),
    pytest.param(
        {"CF_AIG_RETRIES": "-1"},
        ["CF_AIG_RETRIES: must be a whole number from 0 (no retries) to 10; unset it for 2"],
        id="retries-negative",
    ),
    pytest.param(
        {"CF_AIG_RETRIES": "1.5"},
        ["CF_AIG_RETRIES: must be a whole number from 0 (no retries) to 10; unset it for 2"],
        id="retries-fraction",
    ),
    pytest.param(
        {"CF_AIG_TOKEN": TOKEN[:8] + "\r\n" + TOKEN[8:]},
        [TOKEN_VAR + HEADER_UNSAFE],
        id="token-crlf",
    ),
    pytest.param(
        {"GOOGLE_API_KEY": GOOGLE_KEY + "\nX-Injected: 1"},
        ["GOOGLE_API_KEY: " + HEADER_UNSAFE],
        id="key-lf",
    ),
    pytest.param(
        {"GEMINI_API_KEY": GOOGLE_KEY + "\u00e9"},
        ["GEMINI_API_KEY: " + HEADER_UNSAFE],
        id="key-non-ascii",
    ),
    pytest.param({"CF_AIG_TOKEN": "\x07" + TOKEN}, [TOKEN_VAR + HEADER_UNSAFE], id="token-control"),
    pytest.param(
        {"CF_AIG_MODEL": "models/../x"},
        [MODEL_FORMAT],
        id="model-path",
    ),
    pytest.param(
        {"CF_AIG_MODEL": "gemini?alt=1"},
        [MODEL_FORMAT],
        id="model-query",
    ),
    pytest.param(
        {"CF_AIG_PROVIDER": "openai"},
        [
            "CF_AIG_PROVIDER: must be google-ai-studio (the Gemini API) or google-vertex-ai (Gemini on Vertex AI)"
        ],
        id="provider-unknown",
    ),
    pytest.param(
        {"CF_AIG_PROVIDER": "google-vertex-ai"},
        [
            "CF_AIG_VERTEX_PROJECT: not set; google-vertex-ai needs the Google Cloud project"
            + NO_ENV,
            "CF_AIG_VERTEX_LOCATION: not set; google-vertex-ai needs the Google Cloud region"
            + NO_ENV,
        ],
        id="vertex-missing",
    ),
    pytest.param(
        {"CF_AIG_VERTEX_LOCATION": "us central1"},
        [
            "CF_AIG_VERTEX_LOCATION: may hold only letters, digits, '.', ':', '_' and '-' (it has 11 characters, including spaces)"
        ],
        id="vertex-location-space",
    ),
    pytest.param(
        {"CF_AIG_ACCESS_CLIENT_ID": "id.access"},
        [
            "CF_AIG_ACCESS_CLIENT_ID and CF_AIG_ACCESS_CLIENT_SECRET: a Cloudflare Access service token needs both; set the missing one or unset both"
        ],
        id="access-half",
    ),
    pytest.param(
        {"CF_AIG_CACHE_TTL": "30"},
        [
            "CF_AIG_CACHE_TTL: must be 0 (do not cache) or whole seconds from 60 to 2592000 (1 month)"
        ],
        id="cache-ttl-short",
    ),
    pytest.param(
        {"CF_AIG_METADATA": '{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}'},
        ["CF_AIG_METADATA: has 6 entries; the gateway keeps at most 5"],
        id="metadata-six",
    ),
    # -- issue 12: pasted values, placeholders and odd values ------------------------------
    pytest.param({"CF_AIG_TOKEN": "Bearer " + TOKEN}, [TOKEN_VAR + BEARER], id="token-bearer"),
    pytest.param(
        {"CF_AIG_ACCESS_TOKEN": "bearer " + TOKEN, "CF_AIG_BASE_URL": "https://ai.example.com"},
        ["CF_AIG_ACCESS_TOKEN: " + BEARER],
        id="access-token-bearer",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": SEED_URL.format(account_id=ACCOUNT_ID, gateway_id="gw")},
        [BASE + CUT_BEFORE.format("google-ai-studio")],
        id="base-seed-url",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com/google-vertex-ai/v1/projects/p"},
        [BASE + CUT_BEFORE.format("google-vertex-ai")],
        id="base-vertex-inside",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://ai.example.com/compat/chat/completions"},
        [BASE + CUT_BEFORE.format("compat")],
        id="base-compat-inside",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": SEED_URL},
        [
            BASE + "holds an unfilled placeholder ({...} or <...>): put your account and "
            "gateway ids there; " + CUT_BEFORE.format("google-ai-studio")
        ],
        id="base-placeholders",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://gateway.ai.cloudflare.com"},
        [BASE + CF_HOST.format("it has no path")],
        id="base-cloudflare-bare-host",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": f"https://gateway.ai.cloudflare.com/v1/{ACCOUNT_ID}"},
        [BASE + CF_HOST.format("it names no gateway")],
        id="base-cloudflare-no-gateway",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": f"https://gateway.ai.cloudflare.com/v1/{ACCOUNT_ID}/Prod"},
        [
            BASE
            + CF_HOST.format("its gateway id is not 1 to 64 lowercase letters, digits and hyphens")
        ],
        id="base-cloudflare-uppercase-gateway",
    ),
    pytest.param(
        {"CF_AIG_BASE_URL": "https://gateway.ai.cloudflare.com/v1/abc/gw"},
        [BASE + CF_HOST.format("its account id is not 32 hexadecimal characters")],
        id="base-cloudflare-bad-account",
    ),
    pytest.param(
        {"GOOGLE_API_KEY": TOKEN, "CF_AIG_MODE": "key"},
        [
            "CF_AIG_MODE=key, but GOOGLE_API_KEY (or GEMINI_API_KEY) holds the gateway token "
            "(CF_AIG_TOKEN), not the provider's credential: set the real one, or CF_AIG_MODE=byok"
        ],
        id="key-mode-with-the-token-as-key",
    ),
    pytest.param({"CF_AIG_TOKEN": "..."}, [TOKEN_VAR + PLACEHOLDER], id="placeholder-dots"),
    pytest.param({"CF_AIG_TOKEN": "<token>"}, [TOKEN_VAR + PLACEHOLDER], id="placeholder-angle"),
    pytest.param(
        {"GOOGLE_API_KEY": "{CF_AIG_TOKEN}"},
        ["GOOGLE_API_KEY: " + PLACEHOLDER],
        id="placeholder-braces",
    ),
    pytest.param(
        {"GEMINI_API_KEY": "changeme"}, ["GEMINI_API_KEY: " + PLACEHOLDER], id="placeholder-word"
    ),
    pytest.param(
        {"CF_AIG_ACCESS_CLIENT_ID": "id.access", "CF_AIG_ACCESS_CLIENT_SECRET": "xxx"},
        ["CF_AIG_ACCESS_CLIENT_SECRET: " + PLACEHOLDER],
        id="placeholder-xxx",
    ),
    pytest.param(
        {"CF_AIG_METADATA": "[" * 5000},
        ['CF_AIG_METADATA: must be a JSON object such as {"team":"search","user":42}'],
        id="metadata-deep",
    ),
    pytest.param(
        {"CF_AIG_CUSTOM_COST": '{"per_token_in":' * 5000},
        ['CF_AIG_CUSTOM_COST: must be a JSON object such as {"per_token_in":0.000001}'],
        id="custom-cost-deep",
    ),
    pytest.param({"CF_AIG_TIMEOUT": "1e10"}, [TIMEOUT_RANGE], id="timeout-huge"),
    pytest.param({"CF_AIG_TIMEOUT": "86401"}, [TIMEOUT_RANGE], id="timeout-over-a-day"),
    pytest.param(
        {"CF_AIG_API_VERSION": "v\u0661"},
        ["CF_AIG_API_VERSION: must be a Gemini API version such as v1 or v1beta"],
        id="api-version-arabic-digit",
    ),
    pytest.param(
        {"CF_AIG_ACCOUNT_ID": TOKEN},
        [
            ACCOUNT + ACCOUNT_FORMAT + f" (it has {len(TOKEN)} characters, including "
            "lowercase letters after f, punctuation)"
        ],
        id="account-is-a-pasted-token",
    ),
    pytest.param(
        {"CF_AIG_GATEWAY_ID": "Tok_" + TOKEN},
        [
            GATEWAY + GATEWAY_FORMAT + f" (it has {len(TOKEN) + 4} characters, including "
            "punctuation, uppercase letters)"
        ],
        id="gateway-is-a-pasted-token",
    ),
    pytest.param(
        {"CF_AIG_MODEL": "tunedModels/x/../y"}, [MODEL_FORMAT], id="model-prefix-with-path"
    ),
    pytest.param(
        {"CF_AIG_API_VERSION": "v1?key=x"},
        ["CF_AIG_API_VERSION: must be a Gemini API version such as v1 or v1beta"],
        id="api-version-query",
    ),
]


@pytest.mark.parametrize(("overrides", "problems"), BAD_ENVIRONMENTS)
def test_bad_environment_is_one_error_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch, overrides: dict[str, str], problems: list[str]
) -> None:
    env = {**GOOD, **overrides} if overrides else {}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert list(caught.value.problems) == [p.replace("<CWD>", str(Path.cwd())) for p in problems]
    assert isinstance(caught.value, ValueError)
    for canary in CANARIES:
        assert canary not in str(caught.value)
        assert canary[8:] not in str(caught.value)


# The rows a .env line can hold (no raw line breaks, no single quotes).
BAD_DOTENV = [
    p for p in BAD_ENVIRONMENTS if not any(c in v for v in p.values[0].values() for c in "\n\r'")
]


@pytest.mark.parametrize(("overrides", "problems"), BAD_DOTENV)
def test_bad_dotenv_is_reported_like_the_environment(
    overrides: dict[str, str], problems: list[str]
) -> None:
    env = {**GOOD, **overrides} if overrides else {}
    Path(".env").write_text("".join(f"{k}='{v}'\n" for k, v in env.items()))
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert list(caught.value.problems) == [p.replace(NO_ENV, "") for p in problems]


def test_all_problems_are_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CF_AIG_GATEWAY_ID", "bad id")
    monkeypatch.setenv("CF_AIG_TIMEOUT", "x")
    monkeypatch.setenv("CF_AIG_RETRIES", "-3")
    monkeypatch.setenv("CF_AIG_BASE_URL", "ftp://example.com")
    monkeypatch.setenv("CF_AIG_MODE", "key")
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    named = [p.split(":")[0].split(" (or")[0].split("=")[0] for p in caught.value.problems]
    assert named == [
        "CF_AIG_GATEWAY_ID",
        "CF_AIG_BASE_URL",
        "CF_AIG_TIMEOUT",
        "CF_AIG_RETRIES",
        "CF_AIG_MODE",
    ]
    assert str(caught.value).startswith(
        "cfgenai configuration has 5 problems:\n  - CF_AIG_GATEWAY_ID"
    )


def test_arguments_are_checked_like_the_environment() -> None:
    with pytest.raises(ConfigError) as caught:
        GatewaySettings(account_id="x", token="", timeout=-1, retries=True)
    assert [p.split(" ")[0].rstrip(":") for p in caught.value.problems] == [
        "CF_AIG_ACCOUNT_ID",
        "CF_AIG_TIMEOUT",
        "CF_AIG_RETRIES",
        "CF_AIG_TOKEN",
    ]


def test_missing_env_file_is_reported_with_the_other_problems(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CF_AIG_ENV_FILE", "/nonexistent/.env")
    with pytest.raises(ConfigError) as caught:
        GatewaySettings(timeout="x", account_id=ACCOUNT_ID, token=TOKEN)
    assert caught.value.problems[0] == (
        "CF_AIG_ENV_FILE: names a file that does not exist or is not a file; point it at "
        "your .env file, or set it empty to read no file"
    )
    assert caught.value.problems[1].startswith("CF_AIG_TIMEOUT: ")


def test_bad_dotenv_values_are_reported_too() -> None:
    Path(".env").write_text("CF_AIG_ACCOUNT_ID=nope\nCF_AIG_TOKEN=t\nCF_AIG_RETRIES=many\n")
    with pytest.raises(ConfigError) as caught:
        GatewaySettings()
    assert [p.split(" ")[0].rstrip(":") for p in caught.value.problems] == [
        "CF_AIG_ACCOUNT_ID",
        "CF_AIG_RETRIES",
    ]


def test_settings_never_show_a_secret() -> None:
    settings = GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN, google_api_key=GOOGLE_KEY)
    for text in (repr(settings), str(settings), f"{settings!r}", str(settings.model_dump())):
        for canary in CANARIES:
            assert canary not in text


# -- issue 12: typos, unknown names, aliases that disagree, odd files ----------------------------


@pytest.mark.parametrize(
    ("where", "name", "message"),
    [
        (
            "environment",
            "CF_AIG_GATEWAY",
            "CF_AIG_GATEWAY (environment): not a cfgenai variable, so it is ignored; "
            "did you mean CF_AIG_GATEWAY_ID?",
        ),
        (
            ".env",
            "cf_aig_tokn",
            "CF_AIG_TOKN (.env file .env): not a cfgenai variable, so it is ignored; "
            "did you mean CF_AIG_TOKEN?",
        ),
        (
            "environment",
            "CF_AIG_SOMETHING_ELSE_ENTIRELY",
            "CF_AIG_SOMETHING_ELSE_ENTIRELY (environment): not a cfgenai variable, so it is "
            "ignored; `cfgenai env` lists the variables",
        ),
    ],
)
def test_unknown_cf_aig_variable_warns_with_the_closest_name(
    monkeypatch: pytest.MonkeyPatch, build: Build, where: str, name: str, message: str
) -> None:
    if where == ".env":
        Path(".env").write_text(f"{name}=my-gw\n")
    else:
        monkeypatch.setenv(name, "my-gw")
    with pytest.warns(UserWarning, match="not a cfgenai variable") as caught:
        settings = GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN)
    assert [str(w.message) for w in caught] == [message]
    assert settings.gateway_id == "default"
    with pytest.warns(UserWarning, match="not a cfgenai variable") as caught:
        build(account_id=ACCOUNT_ID, token=TOKEN)  # building a client warns the same
    assert [str(w.message) for w in caught] == [message]


@pytest.mark.parametrize(
    ("arguments", "problems"),
    [
        (
            {"gatway_id": "prod"},
            ["gatway_id: not a setting of cfgenai; did you mean gateway_id?"],
        ),
        (
            {"api_key": GOOGLE_KEY},
            [
                "api_key: not a setting of cfgenai; the Google key is google_api_key "
                "(GOOGLE_API_KEY) or gemini_api_key (GEMINI_API_KEY); on Vertex AI, "
                "vertex_access_token"
            ],
        ),
        (
            {"colour": "red"},
            ["colour: not a setting of cfgenai; `cfgenai env` lists the settings"],
        ),
        ({"token": 123}, [TOKEN_VAR + "must be a string, not int"]),
        ({"base_url": b"https://ai.example.com"}, [BASE + "must be a string, not bytes"]),
        ({"gateway_id": ["prod"]}, [GATEWAY + "must be a string, not list"]),
        ({"gateway_id": None}, [GATEWAY + "must be a string, not None"]),
        ({"vertex_project": 7}, ["CF_AIG_VERTEX_PROJECT: must be a string, not int"]),
        (
            {"timeout": b"30"},
            [
                "CF_AIG_TIMEOUT: must be a number of seconds greater than 0 and at most 86400 "
                "(24 hours), e.g. 30; unset it for 120"
            ],
        ),
        (
            {"gatway_id": "prod", "token": 1.5},
            [
                "gatway_id: not a setting of cfgenai; did you mean gateway_id?",
                TOKEN_VAR + "must be a string, not float",
            ],
        ),
    ],
)
def test_unknown_or_wrong_typed_keyword_arguments_are_a_config_error(
    arguments: dict[str, object], problems: list[str]
) -> None:
    import cfgenai

    base = {"account_id": ACCOUNT_ID, "token": TOKEN}
    for build in (GatewaySettings, cfgenai.build_client):
        with pytest.raises(ConfigError) as caught:
            build(**{**base, **arguments})
        assert list(caught.value.problems) == problems
    settings = GatewaySettings(**base)
    with pytest.raises(ConfigError) as caught:
        cfgenai.build_client(settings, **arguments)
    assert list(caught.value.problems) == problems
    assert GOOGLE_KEY not in str(caught.value)


@pytest.mark.parametrize("field", ["gateway_id", "account_id"])
def test_explicit_gateway_or_account_with_a_base_url_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, field: str
) -> None:
    import cfgenai

    value = {"gateway_id": "prod", "account_id": ACCOUNT_ID}[field]
    problem = (
        f"{field}: passed explicitly, but CF_AIG_BASE_URL names the gateway root, so it would be "
        "ignored; put the gateway in base_url=..., or unset CF_AIG_BASE_URL"
    )
    monkeypatch.setenv("CF_AIG_BASE_URL", "https://ai.example.com")
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    with pytest.raises(ConfigError) as caught:
        cfgenai.build_client(**{field: value})
    assert caught.value.problems == (problem,)
    with pytest.raises(ConfigError) as caught:
        cfgenai.build_client(GatewaySettings(), **{field: value})
    assert caught.value.problems == (problem,)
    monkeypatch.setenv(f"CF_AIG_{field.upper()}", value)  # from the environment: doctor warns
    assert GatewaySettings().base_url == "https://ai.example.com"


@pytest.mark.parametrize(
    ("cf_aig", "cloudflare", "where", "warning"),
    [
        (
            "CF_AIG_TOKEN",
            "CLOUDFLARE_GATEWAY_TOKEN",
            "environment",
            "CF_AIG_TOKEN and CLOUDFLARE_GATEWAY_TOKEN are both set and differ; using "
            "CF_AIG_TOKEN. Unset the one you do not mean.",
        ),
        (
            "CF_AIG_GATEWAY_ID",
            "CLOUDFLARE_GATEWAY_ID",
            ".env",
            "CF_AIG_GATEWAY_ID and CLOUDFLARE_GATEWAY_ID are both set and differ; using "
            "CF_AIG_GATEWAY_ID. Unset the one you do not mean.",
        ),
        ("CF_AIG_TOKEN", "CLOUDFLARE_GATEWAY_TOKEN", "same", None),
    ],
)
def test_aliases_set_to_different_values_warn(
    monkeypatch: pytest.MonkeyPatch, cf_aig: str, cloudflare: str, where: str, warning: str | None
) -> None:
    first, second = ("gw-one", "gw-two") if "GATEWAY_ID" in cf_aig else (TOKEN, TOKEN[::-1])
    if where == "same":
        second = first
    if where == ".env":
        Path(".env").write_text(f"{cf_aig}={first}\n{cloudflare}={second}\n")
    else:
        monkeypatch.setenv(cf_aig, first)
        monkeypatch.setenv(cloudflare, second)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GatewaySettings(account_id=ACCOUNT_ID, **({} if "TOKEN" in cf_aig else {"token": TOKEN}))
    assert [str(w.message) for w in caught] == ([warning] if warning else [])
    for canary in CANARIES:
        assert all(canary not in str(w.message) for w in caught)


def test_a_dotenv_that_is_not_utf8_names_the_file_and_the_byte() -> None:
    Path(".env").write_bytes(
        f"CF_AIG_ACCOUNT_ID={ACCOUNT_ID}\nCF_AIG_TOKEN={TOKEN}\xff\n".encode("latin-1")
    )
    with pytest.raises(ConfigError) as caught:
        GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN)
    position = len(f"CF_AIG_ACCOUNT_ID={ACCOUNT_ID}\nCF_AIG_TOKEN={TOKEN}")
    assert caught.value.problems == (
        f"the .env file {Path.cwd() / '.env'}: the byte at position {position} (line 2) is not "
        "UTF-8; save the file as UTF-8",
    )
    assert TOKEN not in str(caught.value)


def test_a_dotenv_with_a_byte_order_mark_is_read() -> None:
    Path(".env").write_text(f"CF_AIG_ACCOUNT_ID={ACCOUNT_ID}\nCF_AIG_TOKEN={TOKEN}\n", "utf-8-sig")
    assert GatewaySettings().account_id == ACCOUNT_ID


def test_a_google_key_equal_to_the_gateway_token_is_byok() -> None:
    settings = GatewaySettings(account_id=ACCOUNT_ID, token=TOKEN, google_api_key=TOKEN)
    assert settings.key_is_token
    assert settings.resolved_mode == "byok"


@pytest.mark.parametrize(
    ("settings", "accepted"),
    [
        ({"vertex_location": "global"}, "global"),
        ({"model": "models/gemini-2.5-flash"}, "models/gemini-2.5-flash"),
        ({"model": "tunedModels/my-model-7"}, "tunedModels/my-model-7"),
        ({"cache_ttl": "0"}, 0),
    ],
)
def test_values_that_used_to_be_refused_are_accepted(
    settings: dict[str, str], accepted: object
) -> None:
    vertex = {"provider": "google-vertex-ai", "vertex_project": "p", "vertex_location": "x"}
    base = {
        "account_id": ACCOUNT_ID,
        "token": TOKEN,
        **(vertex if "vertex_location" in settings else {}),
    }
    built = GatewaySettings(**{**base, **settings})
    name = next(iter(settings))
    assert getattr(built.options if name == "cache_ttl" else built, name) == accepted


def test_every_read_follows_every_change_and_warns_every_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import cfgenai

    def from_environment() -> tuple[GatewaySettings]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (GatewaySettings(),)

    monkeypatch.setenv("CF_AIG_BASE_URL", "http://127.0.0.1:9/v1/a/g")
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    monkeypatch.setenv("CF_AIG_TIMOUT", "3")
    for _ in range(2):
        with pytest.warns(UserWarning, match="CF_AIG_TIMOUT"):
            cfgenai.build_client()
    assert from_environment()[0].timeout == 120
    Path(".env").write_text("CF_AIG_TIMEOUT=5\n")
    assert from_environment()[0].timeout == 5
    Path(".env").write_text("CF_AIG_TIMEOUT=6\n")
    assert from_environment()[0].timeout == 6
    monkeypatch.setenv("CF_AIG_TIMEOUT", "7")
    assert from_environment()[0].timeout == 7
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.delenv("CF_AIG_TIMEOUT")
    assert from_environment()[0].timeout == 120
    monkeypatch.setenv("CF_AIG_TIMEOUT", "soon")
    for _ in range(2):
        with pytest.raises(ConfigError, match="CF_AIG_TIMEOUT"):
            cfgenai.build_client()


_OPENED: list[str] | None = None


def _count_opens(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _OPENED is not None and str(args[0]).endswith(".env"):
        _OPENED.append(str(args[0]))


sys.addaudithook(_count_opens)  # audit hooks stay for the process: it counts only when asked


@pytest.mark.parametrize("how", ["GatewaySettings()", "build_client()", "cfgenai doctor"])
def test_one_read_opens_the_dotenv_file_once(build: Build, how: str) -> None:
    from cfgenai._commands import diagnose

    global _OPENED
    Path(".env").write_text(f"CF_AIG_ACCOUNT_ID={ACCOUNT_ID}\nCF_AIG_TOKEN={TOKEN}\n")
    read = {"GatewaySettings()": GatewaySettings, "build_client()": build}.get(how)
    _OPENED = []
    try:
        read() if read is not None else diagnose(ping=False)
        assert len(_OPENED) == 1, _OPENED
    finally:
        _OPENED = None
