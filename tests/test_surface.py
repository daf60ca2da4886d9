"""Every google-genai call goes through the gateway: files, caches, batches, file search stores,
operations and Live as well as text calls; sync, async over aiohttp and over httpx; key and byok
mode; against the emulator and against an independent recording server.

Each test asserts what the server received (every request under the gateway's prefix, with
``cf-aig-authorization``, the Google key only in key mode) and that the process resolved no
host name but the gateway's.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from google import genai
from google.genai import _api_client, errors, types

from cfgenai import OffGatewayError
from cfgenai.testing import GatewayEmulator

from .conftest import ASYNC_OVER_AIOHTTP, CANARIES, GOOGLE_KEY, LIVE_MODEL, MODEL, TOKEN, Build
from .recorder import Recorder

# -- the calls ------------------------------------------------------------------------------------

Api = Any  # a genai.Client, or its `aio`


async def _done(value: Any) -> Any:
    """A sync call's result, or what an async one gives."""
    return await value if inspect.isawaitable(value) else value


async def _all(value: Any) -> list[Any]:
    """Every item of a pager or a stream, sync or async."""
    value = await _done(value)
    if hasattr(value, "__aiter__"):
        return [item async for item in value]
    return list(value)


def _text_file() -> io.BytesIO:
    return io.BytesIO(b"hello")


async def _upload(api: Api) -> types.File:
    config = types.UploadFileConfig(mime_type="text/plain", display_name="hello")
    file: types.File = await _done(api.files.upload(file=_text_file(), config=config))
    return file


async def _cache(api: Api) -> types.CachedContent:
    config = types.CreateCachedContentConfig(contents=["a long context"], ttl="300s")
    cache: types.CachedContent = await _done(api.caches.create(model=MODEL, config=config))
    return cache


async def _batch(api: Api) -> types.BatchJob:
    src = [{"contents": [{"parts": [{"text": "hi"}], "role": "user"}]}]
    job: types.BatchJob = await _done(api.batches.create(model=MODEL, src=src))
    return job


async def _store(api: Api) -> types.FileSearchStore:
    store: types.FileSearchStore = await _done(
        api.file_search_stores.create(config={"display_name": "docs"})
    )
    return store


async def _store_upload(api: Api) -> Any:
    store = await _store(api)
    return await _done(
        api.file_search_stores.upload_to_file_search_store(
            file_search_store_name=store.name, file=_text_file(), config={"mime_type": "text/plain"}
        )
    )


async def _live_turn(aio: Api) -> None:
    config = types.LiveConnectConfig(response_modalities=["TEXT"])
    async with aio.live.connect(model=LIVE_MODEL, config=config) as session:
        await session.send_client_content(
            turns=types.Content(role="user", parts=[types.Part(text="hi")]), turn_complete=True
        )
        texts = [message.text async for message in session.receive() if message.text]
    assert texts


async def _search(api: Api) -> None:
    store = await _store(api)
    tool = types.Tool(file_search=types.FileSearch(file_search_store_names=[store.name]))
    config = types.GenerateContentConfig(tools=[tool])
    await _done(api.models.generate_content(model=MODEL, contents="find it", config=config))


async def _file_batch(api: Api) -> None:
    line = b'{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'
    config = types.UploadFileConfig(mime_type="application/jsonl")
    file = await _done(api.files.upload(file=io.BytesIO(line), config=config))
    await _done(api.batches.create(model=MODEL, src=file.name))


async def _chat(api: Api) -> None:
    chat = api.chats.create(model=MODEL)
    await _done(chat.send_message("hi"))


CALLS: dict[str, Callable[[Api], Awaitable[Any]]] = {
    "generate_content": lambda api: _done(api.models.generate_content(model=MODEL, contents="hi")),
    "generate_content_stream": lambda api: _all(
        api.models.generate_content_stream(model=MODEL, contents="hi")
    ),
    "chats": _chat,
    "embed_content": lambda api: _done(
        api.models.embed_content(model="gemini-embedding-001", contents="hi")
    ),
    "count_tokens": lambda api: _done(api.models.count_tokens(model=MODEL, contents="hi")),
    "models.get": lambda api: _done(api.models.get(model=MODEL)),
    "models.list": lambda api: _all(api.models.list()),
    "files.upload": _upload,
    "files.get": lambda api: _then(_upload(api), lambda f: api.files.get(name=f.name)),
    "files.download": lambda api: _then(_upload(api), lambda f: api.files.download(file=f.name)),
    "files.list": lambda api: _then(_upload(api), lambda _: _all(api.files.list())),
    "files.delete": lambda api: _then(_upload(api), lambda f: api.files.delete(name=f.name)),
    "caches.create": _cache,
    "caches.get": lambda api: _then(_cache(api), lambda c: api.caches.get(name=c.name)),
    "caches.list": lambda api: _then(_cache(api), lambda _: _all(api.caches.list())),
    "caches.update": lambda api: _then(
        _cache(api),
        lambda c: api.caches.update(
            name=c.name, config=types.UpdateCachedContentConfig(ttl="600s")
        ),
    ),
    "caches.delete": lambda api: _then(_cache(api), lambda c: api.caches.delete(name=c.name)),
    "generate_content with a cache": lambda api: _then(
        _cache(api),
        lambda c: api.models.generate_content(
            model=MODEL, contents="and?", config=types.GenerateContentConfig(cached_content=c.name)
        ),
    ),
    "batches.create": _batch,
    "batches.create from a file": _file_batch,
    "batches.get": lambda api: _then(_batch(api), lambda j: api.batches.get(name=j.name)),
    "batches.list": lambda api: _then(_batch(api), lambda _: _all(api.batches.list())),
    "batches.cancel": lambda api: _then(_batch(api), lambda j: api.batches.cancel(name=j.name)),
    "batches.delete": lambda api: _then(_batch(api), lambda j: api.batches.delete(name=j.name)),
    "file_search_stores.create": _store,
    "file_search_stores.upload_to_file_search_store": _store_upload,
    "operations.get": lambda api: _then(_store_upload(api), api.operations.get),
    "generate_content with file search": _search,
}
# Not in the sync API.
ASYNC_ONLY = {"live.connect": _live_turn}


async def _then(first: Awaitable[Any], then: Callable[[Any], Any]) -> Any:
    return await _done(then(await first))


# -- where they run -------------------------------------------------------------------------------

TRANSPORTS = ["sync", "async-aiohttp", "async-httpx"]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder() as started:
        yield started


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name the process resolves during the test."""
    hosts: list[str] = []
    original = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        hosts.append(host.decode() if isinstance(host, bytes) else str(host))
        return original(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return hosts


def _run(client: genai.Client, transport: str, call: Callable[[Api], Awaitable[Any]]) -> None:
    async def go() -> None:
        if transport == "sync":
            await call(client)
            return
        async with client.aio as aio:  # closes this loop's connections
            await call(aio)

    asyncio.run(go())


def _received(server: str, gateway: GatewayEmulator, recorder: Recorder) -> list[Any]:
    return list(gateway.requests if server == "emulator" else recorder.seen)


@pytest.mark.parametrize("server", ["emulator", "recorder"])
@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("call", [*CALLS, *ASYNC_ONLY])
def test_every_call_goes_through_the_gateway_and_nowhere_else(
    gateway: GatewayEmulator,
    recorder: Recorder,
    resolved: list[str],
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    server: str,
    mode: str,
    transport: str,
    call: str,
) -> None:
    if call in ASYNC_ONLY and transport == "sync":
        pytest.skip("google-genai has no sync Live API")
    if transport == "async-httpx":  # google-genai sends async requests with httpx then
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    recorder.seen.clear()
    root = gateway.base_url if server == "emulator" else recorder.root
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=root, token=TOKEN, mode=mode, **key)
    _run(client, transport, {**CALLS, **ASYNC_ONLY}[call])

    received = _received(server, gateway, recorder)
    assert received
    for request in received:
        live = request.path == "/v1/acc/gw/google"
        assert live or request.path.startswith("/v1/acc/gw/google-ai-studio/"), request.path
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}", request.path
        assert request.header("x-goog-api-key") == (
            GOOGLE_KEY if mode == "key" and not live else None
        ), request.path
        assert ("api_key=" in request.query) == (live and mode == "key")
    assert set(resolved) <= {"127.0.0.1"}, resolved
    if call in ASYNC_ONLY:
        assert [r.path for r in received] == ["/v1/acc/gw/google"] * (
            1 if server == "recorder" else 3
        )


# -- Vertex AI: the paths a bare Vertex AI client builds, under {root}/google-vertex-ai ------------

VERTEX = {"vertex_project": "proj", "vertex_location": "us-central1"}
VERTEX_CALLS: dict[str, Callable[[Api], Awaitable[Any]]] = {
    "generate_content": CALLS["generate_content"],
    "generate_content_stream": CALLS["generate_content_stream"],
    "count_tokens": CALLS["count_tokens"],
    "models.get": CALLS["models.get"],
    "caches.create": _cache,
    "caches.get": lambda api: _done(api.caches.get(name="abc")),
    "caches.get by full name": lambda api: _done(
        api.caches.get(name="projects/proj/locations/us-central1/cachedContents/abc")
    ),
    "caches.list": lambda api: _all(api.caches.list()),
    "caches.update": lambda api: _done(
        api.caches.update(name="abc", config=types.UpdateCachedContentConfig(ttl="600s"))
    ),
    "caches.delete": lambda api: _done(api.caches.delete(name="abc")),
    "batches.create": lambda api: _done(api.batches.create(model=MODEL, src="gs://b/in.jsonl")),
    "batches.get": lambda api: _done(api.batches.get(name="123")),
    "batches.list": lambda api: _all(api.batches.list()),
    "batches.cancel": lambda api: _done(api.batches.cancel(name="123")),
    "batches.delete": lambda api: _done(api.batches.delete(name="123")),
    "operations.get": lambda api: _done(
        api.operations.get(
            types.GenerateVideosOperation(
                name="projects/proj/locations/us-central1/publishers/google/models/veo/operations/o"
            )
        )
    ),
}


@pytest.mark.parametrize("mode", ["key", "byok"])
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("call", list(VERTEX_CALLS))
def test_vertex_ai_paths_are_a_bare_clients_under_the_gateway(
    recorder: Recorder,
    resolved: list[str],
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    transport: str,
    call: str,
) -> None:
    import google.oauth2.credentials

    if transport == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)  # never sent to Vertex AI
    recorder.seen.clear()
    bare = genai.Client(
        vertexai=True,
        credentials=google.oauth2.credentials.Credentials("bare-token"),  # type: ignore[no-untyped-call]
        project="proj",
        location="us-central1",
        http_options=types.HttpOptions(
            base_url=f"http://127.0.0.1:{recorder.port}/bare", api_version="v1"
        ),
    )
    _run(bare, transport, VERTEX_CALLS[call])
    expected = [(r.method, r.path.removeprefix("/bare"), r.query) for r in recorder.seen]
    recorder.seen.clear()
    token = {"vertex_access_token": "vertex-access-token"} if mode == "key" else {}
    client = build(
        base_url=recorder.root,
        token=TOKEN,
        provider="google-vertex-ai",
        mode=mode,
        **VERTEX,
        **token,
    )
    _run(client, transport, VERTEX_CALLS[call])
    prefix = "/v1/acc/gw/google-vertex-ai"
    assert [(r.method, r.path.removeprefix(prefix), r.query) for r in recorder.seen] == expected
    for request in recorder.seen:
        assert request.path.startswith(prefix + "/")
        assert request.header("cf-aig-authorization") == f"Bearer {TOKEN}"
        assert request.header("x-goog-api-key") is None
        assert request.header("authorization") == (
            "Bearer vertex-access-token" if mode == "key" else None
        )
    assert set(resolved) <= {"127.0.0.1"}, resolved
    bare.close()


@pytest.mark.parametrize("mode", ["key", "byok"])
def test_vertex_ai_live_is_refused_before_any_connection(
    gateway: GatewayEmulator,
    resolved: list[str],
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    from cfgenai import ConfigError

    monkeypatch.setenv("GOOGLE_API_KEY", GOOGLE_KEY)
    token = {"vertex_access_token": "vertex-access-token"} if mode == "key" else {}
    client = build(
        base_url=gateway.base_url,
        token=TOKEN,
        provider="google-vertex-ai",
        mode=mode,
        **VERTEX,
        **token,
    )
    with pytest.raises(
        ConfigError, match=r"CF_AIG_PROVIDER=google-vertex-ai: .* Google AI Studio only"
    ):
        asyncio.run(_live_turn(client.aio))
    assert gateway.requests == [] and resolved == []


# -- where a URL google-genai chose is sent ------------------------------------------------------

GOOGLE = "https://generativelanguage.googleapis.com"


@pytest.mark.parametrize(
    ("prefix", "url", "sent_to"),
    [
        pytest.param(
            "https://gw.example/v1/a/g/google-ai-studio",
            f"{GOOGLE}/upload/v1beta/files?upload_id=x&upload_protocol=resumable",
            "https://gw.example/v1/a/g/google-ai-studio/upload/v1beta/files?upload_id=x&upload_protocol=resumable",
            id="google's upload URL",
        ),
        pytest.param(
            "https://gw.example/v1/a/g/google-ai-studio",
            "https://gw.example/upload/v1beta/files?upload_id=x",
            "https://gw.example/v1/a/g/google-ai-studio/upload/v1beta/files?upload_id=x",
            id="google's path on the gateway's host",
        ),
        pytest.param(
            "https://gw.example/v1/a/g/google-ai-studio",
            "https://gw.example/v1/a/g/google-ai-studio/upload/v1beta/files?upload_id=x",
            None,
            id="already on the gateway: as it is",
        ),
        pytest.param(
            "https://ai.example.com/google-ai-studio",
            "https://ai.example.com:443/google-ai-studio/v1/models/m:generateContent",
            None,
            id="custom domain, default port written out",
        ),
        pytest.param(
            "http://127.0.0.1:8080/v1/a/g/google-vertex-ai",
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/x",
            "http://127.0.0.1:8080/v1/a/g/google-vertex-ai/v1/projects/p/locations/l/x",
            id="vertex ai host",
        ),
    ],
)
def test_a_url_google_genai_chose_is_put_back_on_the_gateway(
    prefix: str, url: str, sent_to: str | None
) -> None:
    from cfgenai._transport import placed

    assert placed(urlsplit(prefix), url) == sent_to


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (
            "https://uploads.example.net/upload/v1beta/files?upload_id=x",
            "https://uploads.example.net",
        ),
        ("https://googleapis.com.evil.example/upload", "https://googleapis.com.evil.example"),
        ("http://gw.example/upload/v1beta/files", "http://gw.example"),  # not https: another origin
        ("https://gw.example/v1/other/gw/google-ai-studio/v1/models", "https://gw.example"),
    ],
)
def test_a_url_anywhere_else_is_refused_naming_its_origin(url: str, named: str) -> None:
    from cfgenai import OffGatewayError
    from cfgenai._transport import placed

    with pytest.raises(OffGatewayError) as caught:
        placed(urlsplit("https://gw.example/v1/a/g/google-ai-studio"), url)
    assert caught.value.code == 421 and f"to {named}:" in str(caught.value)


# -- hostile names: nothing leaves the configured prefix ------------------------------------------

HOSTILE_MODELS = [
    "%2e%2e/%2e%2e/%2e%2e/evilacct/evilgw/google-ai-studio/v1/models/x",
    "x%2f..%2fother",
    "gemini%2e%2e",
    "a?b",
    "a#b",
    "a\nb",
    "a%00b",
    "..%5c..%5cx",
]


@pytest.mark.parametrize("model", HOSTILE_MODELS)
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_a_hostile_model_name_sends_nothing_anywhere(
    gateway: GatewayEmulator,
    resolved: list[str],
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    model: str,
    transport: str,
    mode: str,
) -> None:
    if transport == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=gateway.base_url, token=TOKEN, mode=mode, **key)

    async def call(api: Api) -> Any:
        return await _done(api.models.generate_content(model=model, contents="hi"))

    if transport == "async-aiohttp" and "\n" in model and ASYNC_OVER_AIOHTTP:
        # aiohttp's URL parser drops a newline before any middleware sees the request: it
        # goes to .../models/ab, under the gateway's prefix, where the gateway answers (Google
        # knows no such model).
        with pytest.raises(errors.ClientError, match="models/ab is not found"):
            _run(client, transport, call)
        assert [r.path for r in gateway.requests] == [
            "/v1/acc/gw/google-ai-studio/v1/models/ab:generateContent"
        ]
        return
    with pytest.raises(Exception) as caught:  # noqa: PT011 - ours, or httpx's invalid URL
        _run(client, transport, call)
    assert gateway.requests == []  # the gateway's own host got nothing either
    for canary in (TOKEN, GOOGLE_KEY):
        assert canary not in str(caught.value) + repr(caught.value)
    assert set(resolved) <= {"127.0.0.1"}


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("mode", ["key", "byok"])
def test_a_resource_name_with_encoded_dot_segments_sends_nothing_on_any_transport(
    gateway: GatewayEmulator,
    build: Build,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    mode: str,
) -> None:
    # aiohttp's URL parser decodes %2e and resolves the dot segments before any middleware
    # looks: .../v1/cachedContents/%2e%2e/%2e%2e/cachedContents/abc would go out as
    # .../google-ai-studio/cachedContents/abc, a path no longer under an API version.
    if transport == "async-httpx":
        monkeypatch.setattr(_api_client, "has_aiohttp", False)
    key = {"google_api_key": GOOGLE_KEY} if mode == "key" else {}
    client = build(base_url=gateway.base_url, token=TOKEN, mode=mode, **key)

    async def call(api: Api) -> Any:
        return await _done(api.caches.get(name="cachedContents/%2e%2e/%2e%2e/cachedContents/abc"))

    with pytest.raises(OffGatewayError) as caught:
        _run(client, transport, call)
    assert gateway.requests == []
    assert not any(canary in str(caught.value) + repr(caught.value) for canary in CANARIES)
