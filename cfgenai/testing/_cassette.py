"""Cassettes: a test marked ``gateway_cassette`` runs on answers recorded from the real gateway.

Replaying (``--gateway-record=none``, or ``once`` when the file exists), the ``cf_gateway``
emulator answers each request from the file, in recorded order per route (method and path),
after checking its credentials as usual. Recording (``once`` for a missing file, ``all``), the
test's client keeps the user's settings but reaches the gateway through the emulator, which
forwards each request to the gateway those settings name and keeps what came back; the file
is written at teardown, every secret replaced by a placeholder first.

A cassette is YAML, one entry per exchange::

    version: 1
    interactions:
    - request: {method: POST, path: '/v1/{account_id}/{gateway_id}/google-ai-studio/...', body: ...}
      response: {status: 200, headers: {...}, body: ...}   # or chunks: [...] for a stream
    - request: {method: WS, path: '/v1/{account_id}/{gateway_id}/google'}
      response: {status: 101, frames: [{client: ...}, {server: ...}], close: {code: 1000}}

A ``body``, a stream's chunk or a Live frame that is a string is sent as it is, a mapping or a
list (written by hand) as JSON; the recorder writes JSON as its text, a body indented as Gemini
sends it (a block of YAML a person edits as JSON, and which loads far faster than the same value
as YAML nodes). ``base64`` holds a binary body. A frame sent as binary has ``binary: true``
(``base64: true`` when it is not UTF-8 text, its bytes then in base64).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import shlex
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from starlette.types import Message, Receive, Scope, Send

from .._secrets import SECRET_HEADERS
from ._answers import Answer
from ._journal import SECRET_PARAMS, RecordedRequest, masked_query, printable
from ._render import send_json

if TYPE_CHECKING:
    from cfgenai import GatewaySettings

    from ._emulator import GatewayEmulator

# 2: response headers as "name: value" lines (fewer nodes to parse); 1: as a mapping.
VERSION = 2
MARKER = "gateway_cassette"
ACCOUNT, GATEWAY, ROOT = "{account_id}", "{gateway_id}", "{gateway_root}"
# A gateway path: /v1/{account}/{gateway}{rest}
_GATEWAY_PATH = re.compile(r"/v1/[^/]+/[^/]+(?P<rest>/.*)?")
# Environment variables whose values are replaced; shorter values are too likely to be words.
SECRET_SUFFIXES = ("_TOKEN", "_KEY", "_SECRET")
MIN_SECRET = 8
# Request bodies larger than this are kept as their digest: nothing matches on them.
MAX_KEPT_BODY = 64 * 1024
# Not forwarded: the connection's own headers, and (so the answer comes as sent) compression.
_HOP = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
        "accept-encoding",
    }
)
_WEBSOCKET_OWN = _HOP | {
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-accept",
    "user-agent",
}
# Not written to a cassette: credentials, cookies, and what the replaying server sets itself.
_NOT_KEPT = (
    _HOP
    | SECRET_HEADERS
    | {
        "content-encoding",
        "date",
        "server",
        "set-cookie",
        "cookie",
        "proxy-authorization",
        "cf-access-client-id",
    }
)


class CassetteError(Exception):
    """A cassette that cannot be replayed: missing, malformed, or of another format version."""


def route(path: str) -> str:
    """``path`` with its account and gateway ids as placeholders."""
    match = _GATEWAY_PATH.fullmatch(path)
    return f"/v1/{ACCOUNT}/{GATEWAY}{match['rest'] or ''}" if match else path


# -- the test's cassette ------------------------------------------------------------------


def for_test(request: pytest.FixtureRequest) -> Cassette | None:
    """The cassette of the test ``request`` runs, or None when it is not marked (reads the
    ``--gateway-record`` option; a recording test keeps the environment as it is now, to get
    it back once the fixture has emptied it)."""
    node = request.node
    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return None
    given = marker.args[0] if marker.args else marker.kwargs.get("path")
    path = _path(node.path, node.name, given)
    mode = request.config.getoption("gateway_record")
    recording = mode == "all" or (mode == "once" and not path.exists())
    environment = dict(os.environ) if recording else {}
    return Cassette(path, node.nodeid, request.config, mode, recording, environment)


def _path(test_file: Path, name: str, given: str | os.PathLike[str] | None) -> Path:
    """Where a test's cassette is: ``given`` (relative to the test file), else
    ``cassettes/{test module}/{test name}.yaml`` beside it, parameters made a safe name."""
    if given is not None:
        return test_file.parent / Path(given)
    safe = re.sub(r"[^\w.-]+", "_", name.replace("[", "-").rstrip("]")).strip("._")
    if len(safe) > 120:  # long parameter ids: cut, kept apart by a digest
        safe = f"{safe[:100]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return test_file.parent / "cassettes" / test_file.stem / f"{safe}.yaml"


@dataclass
class Cassette:
    path: Path
    nodeid: str
    config: pytest.Config
    mode: str
    recording: bool
    environment: dict[str, str] = field(repr=False)  # recording: before the fixture emptied it
    _emulator: GatewayEmulator | None = None
    _player: Player | None = None
    _recorder: Recorder | None = field(default=None, repr=False)  # its exchanges hold secrets

    @property
    def shown(self) -> str:
        """The path as messages show it: from the rootdir."""
        try:
            return str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            return str(self.path)

    @property
    def command(self) -> str:
        """The command that records this cassette."""
        return f"pytest --gateway-record=once --gateway-live {shlex.quote(self.nodeid)}"

    def start(self, emulator: GatewayEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replay the cassette through ``emulator``, or make it a recording proxy to the
        gateway the user's settings name (then ``CF_AIG_BASE_URL`` alone points at it)."""
        self._emulator = emulator
        if not self.recording:
            failure: str | None = None
            try:
                tape = load(self)
            except CassetteError as exc:
                failure = str(exc)
            if failure is not None:  # outside the except block: no chained traceback
                pytest.fail(failure, pytrace=False)
            self._player = Player(tape, emulator)
            emulator._divert(self._player)
            return
        # Recording reaches a real gateway: a live run, as the plugin's guard asks.
        live = self.config.getoption("gateway_live") or self.environment.get("CF_AIG_LIVE") == "1"
        if not live:
            pytest.fail(
                f"recording {self.shown} reaches your real gateway: run {self.command} "
                "(or set CF_AIG_LIVE=1)",
                pytrace=False,
            )
        self._give_back(monkeypatch)
        settings = _user_settings()
        root = settings.gateway_root.rstrip("/")
        ids = re.fullmatch(r"/v1/([^/]+)/([^/]+)", urlsplit(root).path)
        # A custom domain's root names neither id: the proxy's path makes some up.
        account, gateway = ids.groups() if ids else ("account", "gateway")
        prefix = f"/v1/{account}/{gateway}"
        proxy = emulator.url + prefix
        monkeypatch.setenv("CF_AIG_BASE_URL", proxy)
        pairs = [(proxy, ROOT), (root, ROOT)]
        if ids:
            pairs.append((f"{account}/{gateway}", f"{ACCOUNT}/{GATEWAY}"))
        named = ((account, ACCOUNT), (gateway, GATEWAY), (settings.account_id or "", ACCOUNT))
        pairs += [(ident, name) for ident, name in named if len(ident) >= MIN_SECRET]
        pairs += _secrets(settings, self._environment_file())
        scrub = Scrubber(pairs)
        self._recorder = Recorder(emulator, prefix, root, scrub, float(settings.timeout))
        emulator._divert(self._recorder)

    def finish(self) -> None:
        """Stop replaying and fail for what the cassette could not answer, or write what was
        recorded (``once`` never replaces a file that appeared meanwhile)."""
        if self._emulator is not None:
            self._emulator._divert(None)
        if self._player is not None and self._player.misses:
            lines = "\n".join(f"  {miss}" for miss in self._player.misses)
            pytest.fail(
                f"cassette {self.shown} has no recorded answer for:\n{lines}\n"
                "(the client got a 404 instead): record it again with "
                f"{self.command.replace('=once', '=all')}, or edit the file",
                pytrace=False,
            )
        recorder = self._recorder
        if recorder is None or not recorder.exchanges:
            return
        if self.mode == "once" and self.path.exists():
            return
        text = recorder.cassette()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, self.path)

    def _give_back(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The user's own variables again, as before the fixture (loopback still bypasses
        proxies): the ones it removed back, the ones it added gone."""
        ours = ("CF_AIG_", "CLOUDFLARE_", "GOOGLE_", "GEMINI_")
        before = self.environment
        for name in [n for n in os.environ if n.upper().startswith(ours) and n not in before]:
            monkeypatch.delenv(name)
        for name, value in before.items():
            if name.upper().startswith(ours) and os.environ.get(name) != value:
                monkeypatch.setenv(name, value)

    def _environment_file(self) -> Path | None:
        name = self.environment.get("CF_AIG_ENV_FILE", ".env")
        return Path(name) if name else None


def _user_settings() -> GatewaySettings:
    """The settings the app's client reads, through cfgenai's public API (the emulator uses
    none of the client's rules: these only say where the real gateway is, and its secrets)."""
    from cfgenai import ConfigError, GatewaySettings

    try:
        with warnings.catch_warnings():  # the app's client warns of the same, in the test
            warnings.simplefilter("ignore")
            return GatewaySettings()
    except ConfigError as exc:
        failure = str(exc)
    pytest.fail(  # outside the except block: no chained traceback
        "recording a gateway cassette needs your gateway's settings, from the environment "
        f"or .env:\n{failure}",
        pytrace=False,
    )


def _secrets(settings: GatewaySettings, environment_file: Path | None) -> list[tuple[str, str]]:
    """Each secret known, and its placeholder: every credential of the settings (named by its
    field), then every value of a variable named ``*_TOKEN``, ``*_KEY`` or ``*_SECRET`` in the
    environment or the ``.env`` file, long enough not to be a word (named by its variable:
    the name a reader knows, for the settings' credentials too)."""
    from dotenv import dotenv_values
    from pydantic import SecretStr

    pairs = []
    for name, value in settings:
        if isinstance(value, SecretStr) and value.get_secret_value():
            pairs.append((value.get_secret_value(), f"<{name}>"))
    named: dict[str, str | None] = {}
    if environment_file is not None and environment_file.is_file():
        named.update(dotenv_values(environment_file))
    named.update(os.environ)
    for name, text in named.items():
        if text and len(text) >= MIN_SECRET and name.upper().endswith(SECRET_SUFFIXES):
            pairs.append((text, f"<{name}>"))
    return pairs


class Scrubber:
    """Replaces each secret (the longest first) with its placeholder, in any value."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._kept: dict[str, str] = {}
        self._pairs: list[tuple[str, str]] = []
        self.add(pairs)

    def add(self, pairs: Iterable[tuple[str, str]]) -> None:
        """More secrets; one known already keeps its placeholder."""
        for secret, placeholder in pairs:
            if secret:
                self._kept.setdefault(secret, placeholder)
                self._kept.setdefault(quote(secret, safe=""), placeholder)  # in a URL
        self._pairs = sorted(self._kept.items(), key=lambda pair: -len(pair[0]))

    def text(self, text: str) -> str:
        for secret, placeholder in self._pairs:
            if secret in text:
                text = text.replace(secret, placeholder)
        return text

    def bytes(self, data: bytes) -> bytes:
        for secret, placeholder in self._pairs:
            encoded = secret.encode()
            if encoded in data:
                data = data.replace(encoded, placeholder.encode())
        return data

    def value(self, value: Any) -> Any:
        """``value`` (JSON-like: mappings, lists, strings) scrubbed throughout, keys too."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One recorded answer, as the wire carries it."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    chunks: list[bytes] | None = None  # server-sent events, each whole
    frames: list[tuple[str, str | bytes]] | None = None  # ("client", "") or ("server", data)
    close: tuple[int, str] | None = None
    rooted: bool = False  # a header holds {gateway_root}


Tape = dict[tuple[str, str], list[Reply]]


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - the testing extra brings it
        raise CassetteError(
            "gateway cassettes need PyYAML: pip install 'cfgenai[testing]'"
        ) from exc
    return yaml


def load(cassette: Cassette) -> Tape:
    """The recorded answers of ``cassette``, by route; ``CassetteError`` saying what is wrong
    and where (``file:line``), and how to fix it."""
    try:
        text = cassette.path.read_bytes()  # libyaml decodes it
    except FileNotFoundError:
        raise CassetteError(
            f"cassette {cassette.shown} does not exist: record it against your gateway with "
            f"{cassette.command}"
        ) from None
    yaml = _yaml()

    def broken(where: str, problem: str) -> CassetteError:  # messages built on errors alone
        again = cassette.command.replace("=once", "=all")
        return CassetteError(
            f"{cassette.shown}{where}: {problem}; fix it, or record it again with {again}"
        )

    try:
        data = _parsed(yaml, text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        # A byte that is not UTF-8 is told by its offset; a file cut short is noticed past its
        # end, where its last line is the one to look at.
        line = mark.line + 1 if mark else text.count(b"\n", 0, getattr(exc, "position", 0)) + 1
        last = text.count(b"\n") + (not text.endswith(b"\n"))
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", type(exc).__name__)
        raise broken(f":{min(line, last)}", f"not valid YAML ({problem})") from None
    if not isinstance(data, dict) or "version" not in data:
        raise broken(":1", "not a cfgenai cassette (no 'version:' key)")
    if data["version"] not in (1, VERSION):
        raise broken(
            "",
            f"cassette format version {data['version']!r}, but this cfgenai reads "
            f"versions 1 and {VERSION}",
        )
    interactions = data.get("interactions")
    if not isinstance(interactions, list):
        raise broken(f":{_line(yaml, text, None)}", "'interactions' must be a list")
    tape: Tape = {}
    for i, item in enumerate(interactions):
        try:
            key, reply = _reply(item)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise broken(
                f":{_line(yaml, text, i)}",
                f"interaction {i + 1} is incomplete or malformed ({type(exc).__name__}: {exc})",
            ) from None
        tape.setdefault(key, []).append(reply)
    return tape


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "seq", "map"))


def _parsed(yaml: Any, text: bytes | str) -> Any:
    """``yaml.safe_load(text)``, a third faster: strings, lists and mappings of string keys are
    built here, the rest (numbers, merge keys, tags, recursive aliases) by PyYAML."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        try:
            return None if root is None else _plain(root, loader)
        except RecursionError:  # an alias inside itself
            return loader.construct_document(root)
    finally:
        loader.dispose()


def _plain(node: Any, loader: Any) -> Any:
    # Not a closure over itself: that cycle would keep every node until the next collection.
    if node.tag == _STR:
        return node.value
    if node.tag == _SEQ:
        return [_plain(item, loader) for item in node.value]
    if node.tag == _MAP and all(key.tag == _STR for key, _ in node.value):
        return {key.value: _plain(value, loader) for key, value in node.value}
    return loader.construct_object(node, deep=True)


def _line(yaml: Any, text: bytes, index: int | None) -> int:
    """The line of ``interactions`` (or of its item ``index``), read again only on an error."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, value in root.value:
        if key.value == "interactions":
            items = value.value if isinstance(value.value, list) else []
            if index is not None and index < len(items):
                return int(items[index].start_mark.line) + 1
            return int(value.start_mark.line) + 1
    return 1


def _reply(item: Mapping[str, Any]) -> tuple[tuple[str, str], Reply]:
    request, response = item["request"], item["response"]
    method, path = request["method"], request["path"]
    if not isinstance(method, str) or not isinstance(path, str):
        raise TypeError("request.method and request.path must be strings")
    status = response["status"]
    if not isinstance(status, int):
        raise TypeError("response.status must be a number")
    given = response.get("headers") or {}
    lines = (
        given.splitlines() if isinstance(given, str) else [f"{k}: {v}" for k, v in given.items()]
    )
    headers = []
    for line in filter(None, lines):
        name, colon, value = line.partition(":")
        if not colon:
            raise ValueError(f"a header line is 'name: value', not {line!r}")
        if (name := name.strip().lower()) not in _HOP:  # the replaying server sets these
            headers.append((name.encode("latin-1"), value.strip().encode("latin-1")))
    rooted = any(ROOT.encode() in v for _, v in headers)
    key = (method.upper(), path)
    if "frames" in response:
        frames = [_frame(frame) for frame in response["frames"]]
        close = response.get("close")
        closing = None if close is None else (int(close["code"]), str(close.get("reason", "")))
        return key, Reply(status, headers, frames=frames, close=closing)
    if "chunks" in response:
        chunks = [b"data: " + _wire(c) + b"\r\n\r\n" for c in response["chunks"]]
        return key, Reply(status, headers, chunks=chunks, rooted=rooted)
    if "base64" in response:
        body = base64.b64decode(response["base64"], validate=True)
    else:
        body = _wire(response["body"]) if response.get("body") is not None else b""
    if isinstance(response.get("body"), dict | list) and b"content-type" not in dict(headers):
        headers.append((b"content-type", b"application/json"))
    headers.append((b"content-length", str(len(body)).encode()))  # else it goes chunked
    return key, Reply(status, headers, body, rooted=rooted)


def _frame(frame: Mapping[str, Any]) -> tuple[str, str | bytes]:
    side = "client" if "client" in frame else "server"
    value = frame[side]
    if frame.get("base64"):
        return side, base64.b64decode(value, validate=True)
    data = _wire(value)
    return side, data if frame.get("binary") else data.decode()


def _wire(value: Any) -> bytes:
    """A mapping or list as JSON, a string as it is."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    raise TypeError(f"a body, chunk or frame must be a mapping, a list or a string, not {value!r}")


# -- replaying ----------------------------------------------------------------------------


class _Diverted:
    """What the emulator hands a test's requests to: HTTP to ``_http``, WebSockets to ``_live``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handle = {"http": self._http, "websocket": self._live}.get(scope["type"])
        if handle is not None:
            await handle(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class Player(_Diverted):
    """The emulator's answers for one test: each route's recorded replies, in order."""

    def __init__(self, tape: Tape, emulator: GatewayEmulator) -> None:
        self._tape, self._emulator = tape, emulator
        self._taken: dict[tuple[str, str], int] = {}
        self._root = emulator.base_url.encode()
        self.misses: list[str] = []

    def _take(self, method: str, path: str) -> Reply | None:
        key = (method, route(path))
        replies, taken = self._tape.get(key, ()), self._taken.get(key, 0)
        if taken >= len(replies):
            played = f"all {len(replies)} recorded played" if replies else "none recorded"
            self.misses.append(f"{method} {printable(key[1])} ({played})")
            return None
        self._taken[key] = taken + 1
        return replies[taken]

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await _arrived(self._emulator, scope, receive)
        if request is None:
            return
        refusal = self._emulator._refusal(request)
        if refusal is not None:
            await send_json(send, refusal)
            return
        reply = self._take(request.method, request.path)
        if reply is None:
            await send_json(send, self._missed(request))
            return
        headers = reply.headers
        if reply.rooted:
            headers = [(k, v.replace(ROOT.encode(), self._root)) for k, v in headers]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        if reply.chunks is None:
            await send({"type": "http.response.body", "body": reply.body})
            return
        for chunk in reply.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _missed(self, request: RecordedRequest) -> Answer:
        message = (
            f"cfgenai cassette: no recorded answer for {request.method} "
            f"{printable(route(request.path))}"
        )
        return Answer(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> None:
        handshake = RecordedRequest.from_scope(scope, body=b"")
        self._emulator._received(handshake)
        await receive()  # websocket.connect
        refusal = self._emulator._refusal(handshake)
        reply = None if refusal is not None else self._take("WS", handshake.path)
        if reply is None:
            await _refuse(scope, send, refusal or self._missed(replace(handshake, method="WS")))
            return
        if reply.status != 101:  # the gateway refused the handshake when it was recorded
            await _refuse(scope, send, reply)
            return
        await send({"type": "websocket.accept"})
        for side, data in reply.frames or ():
            if side == "server":
                kind = "text" if isinstance(data, str) else "bytes"
                await send({"type": "websocket.send", kind: data})
                continue
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            self._emulator._received(replace(handshake, method="WS", body=_message(message)))
        if reply.close is not None:
            code, reason = reply.close
            await send({"type": "websocket.close", "code": code, "reason": reason})
            return
        message = await receive()
        if message["type"] != "websocket.disconnect":
            self.misses.append(
                f"WS {printable(route(handshake.path))} (a message after the recorded ones)"
            )
            await send({"type": "websocket.close", "code": 1008, "reason": "not on the cassette"})


async def _refuse(scope: Scope, send: Send, answer: Answer | Reply) -> None:
    """Refuse a WebSocket handshake with an HTTP answer, where the server can send one."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
    elif isinstance(answer, Answer):
        await send_json(send, answer, websocket=True)
    else:
        start = {"status": answer.status, "headers": answer.headers}
        await send({"type": "websocket.http.response.start", **start})
        await send({"type": "websocket.http.response.body", "body": answer.body})


async def _arrived(
    emulator: GatewayEmulator, scope: Scope, receive: Receive
) -> RecordedRequest | None:
    """The request, read whole and journaled, or None when the client went away."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    request = RecordedRequest.from_scope(scope, body=b"".join(chunks))
    emulator._received(request)
    return request


def _message(message: Message) -> bytes:
    text = message.get("text")
    return text.encode() if text is not None else bytes(message.get("bytes") or b"")


# -- recording ----------------------------------------------------------------------------


@dataclass
class Exchange:
    """One request forwarded and what came back, as sent (secrets in it until written)."""

    method: str
    path: str = field(repr=False)  # the account id in it
    query: str = field(repr=False)
    body: bytes = field(repr=False)
    status: int
    headers: list[tuple[str, str]] = field(repr=False)
    answer: bytes = field(default=b"", repr=False)
    stream: bool = False
    frames: list[tuple[str, str | bytes]] | None = field(default=None, repr=False)
    close: tuple[int, str] | None = None


@dataclass
class Recorder(_Diverted):
    """A recording proxy: each request goes on to ``root`` (the gateway the user's settings
    name) below ``prefix``, its answer back to the client and into ``exchanges``."""

    emulator: GatewayEmulator
    prefix: str
    root: str
    scrub: Scrubber
    timeout: float
    exchanges: list[Exchange] = field(default_factory=list)

    def _target(self, scope: Scope) -> str | None:
        """The URL below the real gateway's root for the request, or None when it is not
        below the proxy's."""
        path: str = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        if not path.startswith(self.prefix + "/"):
            return None
        query = scope["query_string"].decode("latin-1")
        return self.root + path[len(self.prefix) :] + (f"?{query}" if query else "")

    def _failed(self, why: str) -> Answer:
        message = f"cfgenai's recording proxy: {self.scrub.text(why)}"
        return Answer(502, {"error": {"code": 502, "message": message, "status": "UNAVAILABLE"}})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        from .. import _compat

        request = await _arrived(self.emulator, scope, receive)
        if request is None:
            return
        body = request.body
        url = self._target(scope)
        if url is None:
            await send_json(send, self._failed(f"{request.path} is not below {self.prefix}"))
            return
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in _HOP]
        self._learn(headers, request.query)
        # In the order requests came, as a replay hands answers out: filled once answered.
        exchange = Exchange(request.method, request.path, request.query, body, 0, [])
        self.exchanges.append(exchange)
        httpx = _compat.httpx_module()
        parts: list[bytes] = []
        started = False
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                outgoing = client.build_request(request.method, url, headers=headers, content=body)
                response = await client.send(outgoing, stream=True)
                try:
                    back = [
                        (k, self._back(k, v))
                        for k, v in response.headers.raw
                        if k.decode("latin-1").lower() not in _HOP | {"content-encoding"}
                    ]
                    started = True  # httpx decodes the body: sent on as it is decoded
                    await send(
                        {
                            "type": "http.response.start",
                            "status": response.status_code,
                            "headers": back,
                        }
                    )
                    async for chunk in response.aiter_bytes():
                        parts.append(chunk)
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    # Kept before the answer ends: the test may end as soon as it has it.
                    self._keep(exchange, response.status_code, back, b"".join(parts))
                    await send({"type": "http.response.body", "body": b""})
                finally:
                    await response.aclose()
        except httpx.HTTPError as exc:
            if started:
                raise  # the answer has begun: cut it, as the network did
            self.exchanges.remove(exchange)  # nothing came back to record
            await send_json(send, self._failed(f"{type(exc).__name__}: {exc}"))

    @staticmethod
    def _keep(
        exchange: Exchange, status: int, headers: list[tuple[bytes, bytes]], answer: bytes
    ) -> None:
        exchange.headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers]
        exchange.stream = any(
            k == "content-type" and "text/event-stream" in v for k, v in exchange.headers
        )
        exchange.status, exchange.answer = status, answer

    def _learn(self, headers: list[tuple[bytes, bytes]], query: str) -> None:
        """Add the credentials this request carries to the secrets to replace: one passed in
        code, or read from a file since the recording began, is in no variable."""
        sent = [
            v.decode("latin-1").removeprefix("Bearer ")
            for k, v in headers
            if k.decode("latin-1").lower() in SECRET_HEADERS
        ]
        sent += [v for k, v in parse_qsl(query) if k.lower() in SECRET_PARAMS]
        self.scrub.add((secret, "<credential>") for secret in sent if len(secret) >= MIN_SECRET)

    def _back(self, name: bytes, value: bytes) -> bytes:
        """A header value, where an upload URL on the real gateway leads back through here."""
        if name.lower() != b"x-goog-upload-url":
            return value
        url, root = value.decode("latin-1"), self.root
        if url.startswith(root + "/"):
            proxy = f"{self.emulator.url}{self.prefix}"
            return (proxy + url[len(root) :]).encode("latin-1")
        return value

    async def _live(self, scope: Scope, receive: Receive, send: Send) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        handshake = RecordedRequest.from_scope(scope, body=b"")
        self.emulator._received(handshake)
        await receive()  # websocket.connect
        url = self._target(scope)
        if url is None:
            await _refuse(scope, send, self._failed(f"{handshake.path} is not below {self.prefix}"))
            return
        url = re.sub(r"^http", "ws", url)
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in _WEBSOCKET_OWN
        ]
        exchange = Exchange("WS", handshake.path, handshake.query, b"", 101, [], frames=[])
        try:
            upstream = await connect(
                url, additional_headers=headers, max_size=None, open_timeout=self.timeout
            )
        except InvalidStatus as refused:  # the gateway's answer to the handshake, kept
            answer = refused.response
            kept = [(k.lower(), v) for k, v in answer.headers.raw_items()]
            body = bytes(answer.body or b"")
            self.exchanges.append(
                replace(exchange, status=answer.status_code, headers=kept, answer=body, frames=None)
            )
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in kept if k not in _HOP]
            await _refuse(scope, send, Reply(answer.status_code, raw, body))
            return
        except (OSError, WebSocketException, TimeoutError) as exc:
            await _refuse(scope, send, self._failed(f"{type(exc).__name__}: {exc}"))
            return
        await send({"type": "websocket.accept"})
        self.exchanges.append(exchange)
        frames = exchange.frames
        assert frames is not None
        client_gone = False

        async def upward() -> None:
            nonlocal client_gone
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    client_gone = True
                    await upstream.close()
                    return
                data: str | bytes = (
                    message["text"]
                    if message.get("text") is not None
                    else message.get("bytes") or b""
                )
                frames.append(("client", data))
                self.emulator._received(replace(handshake, method="WS", body=_message(message)))
                try:
                    await upstream.send(data)
                except ConnectionClosed:
                    return

        async def downward() -> None:
            try:
                async for data in upstream:
                    frames.append(("server", data))
                    kind = "text" if isinstance(data, str) else "bytes"
                    await send({"type": "websocket.send", kind: data})
            except ConnectionClosed:
                pass
            if client_gone:
                return
            code, reason = upstream.close_code or 1006, upstream.close_reason or ""
            exchange.close = (code, reason)
            await send(
                {
                    "type": "websocket.close",
                    "code": code if code != 1006 else 1011,
                    "reason": reason,
                }
            )

        tasks = {asyncio.ensure_future(upward()), asyncio.ensure_future(downward())}
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                task.result()
        finally:
            await upstream.close()

    def cassette(self) -> str:
        """The cassette's text: every exchange, each secret replaced by its placeholder."""
        yaml = _yaml()
        answered = [e for e in self.exchanges if e.status]  # a request cut off has none
        document = {"version": VERSION, "interactions": [self._entry(e) for e in answered]}
        text = yaml.dump(
            document,
            Dumper=_dumper(yaml),
            sort_keys=False,
            allow_unicode=True,
            width=2**30,  # one line per string: a secret is never split
        )
        text = (
            "# A cfgenai gateway cassette: recorded answers, secrets replaced by placeholders.\n"
            "# Edit freely; record it again with pytest --gateway-record=all.\n" + text
        )
        # Every field was scrubbed; should a secret still show (escaped differently, say),
        # the file is damaged rather than leaking it.
        return self.scrub.text(text)

    def _entry(self, exchange: Exchange) -> dict[str, Any]:
        scrub = self.scrub
        request: dict[str, Any] = {
            "method": exchange.method,
            "path": scrub.text(route(exchange.path)),
        }
        if exchange.query:
            request["query"] = scrub.text(masked_query(exchange.query, "<redacted>"))
        if len(exchange.body) > MAX_KEPT_BODY:
            request["body_size"] = len(exchange.body)
            request["body_sha256"] = hashlib.sha256(exchange.body).hexdigest()
        elif exchange.body:
            request.update(_body_fields(scrub.bytes(exchange.body), scrub))
        response: dict[str, Any] = {"status": exchange.status}
        # An upload URL through the proxy becomes {gateway_root}/..., for the replaying emulator.
        headers = [f"{k}: {scrub.text(v)}" for k, v in exchange.headers if k not in _NOT_KEPT]
        if headers:
            response["headers"] = "\n".join(headers)
        if exchange.frames is not None:
            response["frames"] = [
                _frame_fields(side, data, scrub) for side, data in exchange.frames
            ]
            if exchange.close is not None:
                response["close"] = {
                    "code": exchange.close[0],
                    "reason": scrub.text(exchange.close[1]),
                }
        elif exchange.stream:
            events = scrub.bytes(exchange.answer).decode("utf-8", "replace")
            response["chunks"] = [_kept(event, scrub) for event in _events(events)]
        elif exchange.answer:
            response.update(_body_fields(scrub.bytes(exchange.answer), scrub))
        return {"request": request, "response": response}


def _events(text: str) -> list[str]:
    """The data of each server-sent event in ``text``."""
    events = []
    for block in re.split(r"\r?\n\r?\n", text):
        data = [
            line[5:].removeprefix(" ") for line in block.splitlines() if line.startswith("data:")
        ]
        if data:
            events.append("\n".join(data))
    return events


def _kept(text: str, scrub: Scrubber, indent: int | None = None) -> str:
    """``text`` as a cassette keeps it, scrubbed: JSON written again from its scrubbed values
    (``indent``-ed, or on one line: a stream's event and a Live frame are one line on the
    wire), other text as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        return scrub.text(text)
    if not isinstance(value, dict | list):
        return scrub.text(text)
    return json.dumps(scrub.value(value), indent=indent, ensure_ascii=False)


def _body_fields(data: bytes, scrub: Scrubber) -> dict[str, Any]:
    """A body as a cassette keeps it: ``body`` (JSON indented as Gemini sends it, or text),
    else ``base64``."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}
    return {"body": _kept(text, scrub, indent=2)}


def _frame_fields(side: str, data: str | bytes, scrub: Scrubber) -> dict[str, Any]:
    if isinstance(data, str):
        return {side: _kept(scrub.text(data), scrub)}
    data = scrub.bytes(data)
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return {side: base64.b64encode(data).decode(), "base64": True}
    return {side: _kept(text, scrub), "binary": True}


def _dumper(yaml: Any) -> Any:
    """YAML's safe dumper writing a text of several lines (an indented JSON body) as a block,
    line for line as it is."""

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        def represent_str(self, data: str) -> Any:
            return self.represent_scalar(
                "tag:yaml.org,2002:str", data, style="|" if "\n" in data else None
            )

    Dumper.add_representer(str, Dumper.represent_str)
    return Dumper
