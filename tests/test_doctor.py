"""cfgenai doctor --ping says the mode, its reason and who pays as the gateway then sees them:
for every provider and credential source, its words are compared with the emulator's journal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import google.oauth2.credentials
import pytest

from cfgenai.cli import main
from cfgenai.testing import GatewayEmulator

from .conftest import CANARIES, GOOGLE_KEY, MODEL, STORED_KEY, TEAM_KEY, TOKEN, VERTEX_TOKEN
from .tokens import CLIENT_SECRET, PRIVATE_KEY_ID, REFRESH_TOKEN, TokenServer

SECRETS = (*CANARIES, PRIVATE_KEY_ID, REFRESH_TOKEN, CLIENT_SECRET, "issued-access-token")
VERTEX = {
    "CF_AIG_PROVIDER": "google-vertex-ai",
    "CF_AIG_VERTEX_PROJECT": "proj",
    "CF_AIG_VERTEX_LOCATION": "us-central1",
}
NOTHING_STORED = {"CF_AIG_BYOK_ALIAS": "nothing-stored"}  # no key under it: Unified Billing pays
STORED = "the key stored in the gateway under the alias '{}', else Unified Billing"
OWN = "your own credential in the request only"

# Each credential source: the variables set (a file: {service account} or {user credentials}),
# the mode line doctor must print, the start of its pays line, and who the gateway's log says
# paid; the provider credential on the wire follows from the mode.
CASES = {
    "studio GOOGLE_API_KEY": (
        {"GOOGLE_API_KEY": GOOGLE_KEY},
        "key (auto: GOOGLE_API_KEY is set)",
        OWN,
        "request",
    ),
    "studio GEMINI_API_KEY": (
        {"GEMINI_API_KEY": GOOGLE_KEY},
        "key (auto: GEMINI_API_KEY is set)",
        OWN,
        "request",
    ),
    "studio CF_AIG_MODE=key": (
        {"CF_AIG_MODE": "key", "GOOGLE_API_KEY": GOOGLE_KEY},
        "key (CF_AIG_MODE=key)",
        OWN,
        "request",
    ),
    "studio stored key": (
        {},
        "byok (auto: GOOGLE_API_KEY (or GEMINI_API_KEY) is not set, so the gateway adds its "
        "stored key)",
        STORED.format("default"),
        "stored",
    ),
    "studio stored key under an alias": (
        {"CF_AIG_BYOK_ALIAS": "team"},
        "byok (auto: GOOGLE_API_KEY (or GEMINI_API_KEY) is not set, so the gateway adds its "
        "stored key)",
        STORED.format("team"),
        "stored",
    ),
    "studio stored key only": (
        {"CF_AIG_NO_WHOLESALE": "true"},
        "byok (auto: GOOGLE_API_KEY (or GEMINI_API_KEY) is not set, so the gateway adds its "
        "stored key)",
        "the key stored in the gateway under the alias 'default' only",
        "stored",
    ),
    "studio Unified Billing": (
        NOTHING_STORED,
        "byok (auto: GOOGLE_API_KEY (or GEMINI_API_KEY) is not set, so the gateway adds its "
        "stored key)",
        STORED.format("nothing-stored"),
        "unified",
    ),
    "studio CF_AIG_MODE=byok beside a key": (
        {"CF_AIG_MODE": "byok", "GOOGLE_API_KEY": GOOGLE_KEY},
        "byok (CF_AIG_MODE=byok)",
        STORED.format("default"),
        "stored",
    ),
    "studio key is the gateway token": (
        {"GOOGLE_API_KEY": TOKEN},
        "byok (auto: GOOGLE_API_KEY is the gateway token, so the gateway adds its stored key)",
        STORED.format("default"),
        "stored",
    ),
    "vertex access token": (
        {**VERTEX, "CF_AIG_VERTEX_ACCESS_TOKEN": VERTEX_TOKEN},
        "key (auto: CF_AIG_VERTEX_ACCESS_TOKEN is set)",
        OWN,
        "request",
    ),
    "vertex CF_AIG_MODE=key": (
        {**VERTEX, "CF_AIG_MODE": "key", "CF_AIG_VERTEX_ACCESS_TOKEN": VERTEX_TOKEN},
        "key (CF_AIG_MODE=key)",
        OWN,
        "request",
    ),
    "vertex service account file": (
        {**VERTEX, "CF_AIG_VERTEX_CREDENTIALS": "{service account}"},
        "key (auto: CF_AIG_VERTEX_CREDENTIALS is set, so cfgenai sends their token)",
        OWN,
        "request",
    ),
    "vertex user credentials file": (
        {**VERTEX, "CF_AIG_VERTEX_CREDENTIALS": "{user credentials}"},
        "key (auto: CF_AIG_VERTEX_CREDENTIALS is set, so cfgenai sends their token)",
        OWN,
        "request",
    ),
    "vertex application default credentials": (
        {
            **VERTEX,
            "CF_AIG_VERTEX_CREDENTIALS": "adc",
            "GOOGLE_APPLICATION_CREDENTIALS": "{service account}",
        },
        "key (auto: CF_AIG_VERTEX_CREDENTIALS is set, so cfgenai sends their token)",
        OWN,
        "request",
    ),
    "vertex stored credentials": (
        VERTEX,
        "byok (auto: CF_AIG_VERTEX_ACCESS_TOKEN is not set, so the gateway adds its stored key)",
        STORED.format("default"),
        "stored",
    ),
    "vertex Unified Billing": (
        {**VERTEX, **NOTHING_STORED},
        "byok (auto: CF_AIG_VERTEX_ACCESS_TOKEN is not set, so the gateway adds its stored key)",
        STORED.format("nothing-stored"),
        "unified",
    ),
    "vertex CF_AIG_MODE=byok beside credentials": (
        {**VERTEX, "CF_AIG_MODE": "byok", "CF_AIG_VERTEX_CREDENTIALS": "{user credentials}"},
        "byok (CF_AIG_MODE=byok)",
        STORED.format("default"),
        "stored",
    ),
    "vertex access token is the gateway token": (
        {**VERTEX, "CF_AIG_VERTEX_ACCESS_TOKEN": TOKEN},
        "byok (auto: CF_AIG_VERTEX_ACCESS_TOKEN is the gateway token, so the gateway adds its "
        "stored key)",
        STORED.format("default"),
        "stored",
    ),
}


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def emulator(tokens: TokenServer) -> Iterator[GatewayEmulator]:
    """One gateway for every case: Google accepts the key, the access token and every token
    the token endpoint issued; the account has Unified Billing for an alias with no key."""
    known = {GOOGLE_KEY, VERTEX_TOKEN}
    with GatewayEmulator(
        token=TOKEN,
        google_keys=lambda key: key in known or tokens.accepts(key),
        stored_keys={"default": STORED_KEY, "team": TEAM_KEY},
        unified_billing=True,
    ) as gateway:
        yield gateway


@pytest.mark.parametrize("case", CASES)
def test_doctor_says_the_mode_and_who_pays_as_the_wire_shows_them(
    emulator: GatewayEmulator,
    tokens: TokenServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    case: str,
) -> None:
    variables, mode, pays, paid = CASES[case]
    emulator.reset()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud of the machine
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # nor a metadata server
    # google-auth sends user credentials to Google's endpoint whatever their file says.
    monkeypatch.setattr(google.oauth2.credentials, "_GOOGLE_OAUTH2_TOKEN_ENDPOINT", tokens.uri)
    files = {
        "{service account}": tokens.service_account_file(tmp_path),
        "{user credentials}": tokens.authorized_user_file(tmp_path),
    }
    monkeypatch.setenv("CF_AIG_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CF_AIG_TOKEN", TOKEN)
    for name, value in variables.items():
        monkeypatch.setenv(name, str(files.get(value, value)))

    code = main(["doctor", "--ping"])
    out, err = capsys.readouterr()
    assert not [s for s in SECRETS if s in out + err]
    assert code == 0, out
    said = dict(re.findall(r"^(mode|pays)  (.*)$", out, re.MULTILINE))
    assert said["mode"] == mode
    assert said["pays"].startswith(pays)

    (request,) = emulator.requests
    assert request.path.endswith(f"/models/{MODEL}:countTokens")
    assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
    vertex = "CF_AIG_PROVIDER" in variables
    sent = request.header("authorization" if vertex else "x-goog-api-key")
    other = request.header("x-goog-api-key" if vertex else "authorization")
    assert (sent is not None, other) == (mode.startswith("key"), None)
    if sent is not None:
        credential = variables.get("CF_AIG_VERTEX_ACCESS_TOKEN", variables.get("GOOGLE_API_KEY"))
        expected = credential or variables.get("GEMINI_API_KEY") or "issued-access-token-"
        assert sent.removeprefix("Bearer ").startswith(expected)
    alias = re.search(r"alias '([^']+)'", said["pays"])
    assert (request.header("cf-aig-byok-alias") or "default") == (alias[1] if alias else "default")
    assert (request.header("cf-aig-no-wholesale") == "true") == (
        "only (CF_AIG_NO_WHOLESALE=true)" in said["pays"]
    )
    (entry,) = emulator.logs
    assert entry["billing"] == paid
