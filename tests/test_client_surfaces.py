"""Every surface of ``genai.Client`` and ``client.aio``, walked on the installed google-genai:
one representative call each, through a cfgenai client, against the emulator.

A row says what the gateway's side shows: the call answered (200), Google's 404 naming the
route, or cfgenai refusing the route (``ConfigError``) before anything is sent. A surface the
walk finds that the table does not know fails, so a new google-genai release asks for a row.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from google import genai
from google.genai import types

from cfgenai import ConfigError
from cfgenai.testing import GatewayEmulator

from .conftest import GOOGLE_KEY, LIVE_MODEL, MODEL, TOKEN, Build

pytestmark = [
    # Agents, triggers, environments, credentials, auth tokens, Live Music warn they are new.
    pytest.mark.filterwarnings("ignore:.*experimental:Warning"),
    # google-genai 2.0.0's interactions warn of what they leave out.
    pytest.mark.filterwarnings("ignore:Async interactions client cannot use aiohttp:UserWarning"),
    pytest.mark.filterwarnings("ignore:Granular retry options are not supported:UserWarning"),
]

ROOT = "/v1/acc/gw"
# Public attributes that are not API surfaces.
NOT_SURFACES = frozenset({"aio", "aclose", "close", "vertexai"})

Api = Any  # a genai.Client, or its `aio`


async def _done(value: Any) -> Any:
    """A sync call's result, or what an async one gives."""
    return await value if inspect.isawaitable(value) else value


async def _all(value: Any) -> list[Any]:
    """Every item of a pager or a stream, sync or async."""
    value = await _done(value)
    return [item async for item in value] if hasattr(value, "__aiter__") else list(value)


async def _chat(api: Api) -> None:
    await _done(api.chats.create(model=MODEL).send_message("hi"))


async def _live(aio: Api) -> None:
    config = types.LiveConnectConfig(response_modalities=[types.Modality.TEXT])
    async with aio.live.connect(model=LIVE_MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="hi")]), turn_complete=True
        )
        assert [message.text async for message in session.receive() if message.text]


async def _music(aio: Api) -> None:
    async with aio.live.music.connect(model="models/lyria-realtime-exp"):
        pass


async def _live_interaction(aio: Api) -> None:
    async with aio.interactions.connect("v1_interaction"):
        pass


@dataclass(frozen=True)
class Row:
    call: Callable[[Api], Awaitable[Any]]
    status: int | None = 200  # what the emulator answers; None: refused, nothing sent


# Keyed by the attribute path the call starts from; a WebSocket opener by its `connect`.
ROWS: dict[str, Row] = {
    "models": Row(lambda api: _done(api.models.generate_content(model=MODEL, contents="hi"))),
    "chats": Row(_chat),
    "files": Row(lambda api: _all(api.files.list())),
    "caches": Row(lambda api: _all(api.caches.list())),
    "batches": Row(lambda api: _all(api.batches.list())),
    "file_search_stores": Row(lambda api: _all(api.file_search_stores.list())),
    "operations": Row(
        lambda api: _done(api.operations.get(types.GenerateVideosOperation(name="operations/o"))),
        404,
    ),
    "tunings": Row(lambda api: _done(api.tunings.get(name="tunedModels/t")), 404),
    "auth_tokens": Row(lambda api: _done(api.auth_tokens.create()), 404),
    "interactions": Row(
        lambda api: _done(api.interactions.create(model=MODEL, input="hi")),
    ),
    "webhooks": Row(lambda api: _done(api.webhooks.list())),
    "agents": Row(lambda api: _done(api.agents.list())),
    "triggers": Row(lambda api: _done(api.triggers.list())),
    "environments": Row(lambda api: _done(api.environments.list())),
    "credentials": Row(lambda api: _done(api.credentials.list())),
    "voices": Row(lambda api: _done(api.voices.list())),
    "decisions": Row(
        lambda api: _done(
            api.decisions.create(
                model=MODEL,
                input="hi",
                questions={
                    "clear": {"type": "score", "criteria": ["clear"], "instructions": "Is it?"}
                },
            )
        ),
        404,
    ),
    "live.connect": Row(_live),
    # Cloudflare documents no gateway route for these WebSockets.
    "live.music.connect": Row(_music, None),
    "interactions.connect": Row(_live_interaction, None),
}


def _rows() -> list[str]:
    return list(ROWS)


def _walk(api: Api) -> set[str]:
    """The surfaces of ``api``, and the WebSocket openers (``connect``) on or under them."""
    found = set()
    for name in dir(api):
        if name.startswith("_") or name in NOT_SURFACES:
            continue
        found.add(name)
        surface = getattr(api, name)
        if callable(getattr(surface, "connect", None)):
            found.add(f"{name}.connect")
        for sub, kind in vars(type(surface)).items():
            under = getattr(surface, sub) if isinstance(kind, property) else None
            if not sub.startswith("_") and callable(getattr(under, "connect", None)):
                found.add(f"{name}.{sub}.connect")
    return found


def _resolve(api: Api, path: str) -> Any:
    for name in path.split("."):
        api = getattr(api, name, None)
    return api


@pytest.mark.parametrize("side", ["sync", "async"])
def test_the_table_knows_every_surface_of_the_installed_google_genai(side: str) -> None:
    client = genai.Client(api_key="unused")
    known = set(ROWS) | {path.split(".")[0] for path in ROWS}
    unknown = _walk(client if side == "sync" else client.aio) - known
    assert not unknown, f"google-genai has surfaces this table does not know: {sorted(unknown)}"
    client.close()


@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("side", ["sync", "async"])
@pytest.mark.parametrize("path", _rows())
def test_each_surface_reaches_the_gateway_with_its_credentials_or_is_refused(
    gateway: GatewayEmulator, build: Build, mode: str, side: str, path: str
) -> None:
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=gateway.base_url, token=TOKEN, mode=mode, retries=0, **key)
    if _resolve(client if side == "sync" else client.aio, path) is None:
        pytest.skip(f"this google-genai has no {side} {path}")
    row = ROWS[path]

    async def go() -> None:
        if side == "sync":
            await row.call(client)
            return
        async with client.aio as aio:  # closes this loop's connections
            await row.call(aio)

    if row.status is None:
        with pytest.raises(ConfigError):
            asyncio.run(go())
        assert gateway.requests == []
        return
    if row.status == 200:
        asyncio.run(go())
    else:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - google-genai's, or cfgenai's
            asyncio.run(go())
        route = gateway.requests[-1].path.split("/", 6)[-1]  # after /v1/acc/gw/{provider}/{v}
        assert route in _messages(caught.value)
    if path == "live.connect":  # the handshake landed on the route Cloudflare documents
        assert gateway.requests[0].path == f"{ROOT}/google"
    else:
        assert [entry["status_code"] for entry in gateway.logs][-1] == row.status
    for request in gateway.requests:
        live = request.path == f"{ROOT}/google"
        assert live or request.path.startswith(f"{ROOT}/google-ai-studio/"), request.path
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}", request.path
        assert request.header("x-goog-api-key") == (
            GOOGLE_KEY if mode == "key" and not live else None
        ), request.path
        assert ("api_key=" in request.query) == (live and mode == "key")


def _messages(error: BaseException | None) -> str:
    """The messages of an error and of the errors that caused it (google-genai 2.0.0 wraps
    an error of the HTTP layer in its own)."""
    texts: list[str] = []
    while error is not None and len(texts) < 10:  # a chain may loop
        texts.append(str(error))
        error = error.__cause__ or error.__context__
    return "\n".join(texts)


def test_the_walk_finds_a_surface_a_new_release_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(genai.Client, "holograms", property(lambda _: object()), raising=False)
    client = genai.Client(api_key="unused")
    assert "holograms" in _walk(client) - set(ROWS)
    client.close()
