"""What ``cli.py``'s commands share: exit codes, failures, ``ask``'s indicators, ``doctor``."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from . import _plan, _settings
from ._checks import CLOUDFLARE_HOST, PROVIDER, VERTEX
from ._errors import CloudflareAPIError, ConfigError, GatewayUnreachable, host_port
from ._reference import default_text
from ._secrets import fingerprint, mask, printable
from ._sources import Found, Reading, describe_env_file, read

# Exit codes, documented in `cfgenai --help` and docs/cli.md.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CONFIG, EXIT_GATEWAY, EXIT_UPSTREAM, EXIT_NETWORK = range(7)
EXIT_CODES = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_ERROR}  unexpected error
  {EXIT_USAGE}  wrong command-line usage
  {EXIT_CONFIG}  configuration problem (each one is listed with its fix)
  {EXIT_GATEWAY}  Cloudflare AI Gateway, or Cloudflare's API, refused the request (its code is shown)
  {EXIT_UPSTREAM}  Google answered with an error, passed on by the gateway
  {EXIT_NETWORK}  the gateway, or Cloudflare's API, could not be reached or did not answer in time"""


def failure(exc: BaseException, service: str = "the gateway") -> tuple[int, str]:
    """The exit code and one-line message for an exception met while talking to ``service``."""
    if isinstance(exc, Refused):
        return exc.args
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG, str(exc)
    if isinstance(exc, CloudflareAPIError):
        return EXIT_GATEWAY, str(exc)
    from google.genai import errors

    from ._google_errors import GatewayError

    if isinstance(exc, GatewayError):
        return EXIT_GATEWAY, exc.message or str(exc)
    if isinstance(exc, errors.APIError):
        return EXIT_UPSTREAM, f"Google answered {exc.code} {exc.status}: {exc.message}"
    if isinstance(exc, GatewayUnreachable):  # what failed and where; a command counts attempts
        return EXIT_NETWORK, re.sub(r"; \d+ attempts?$", "", str(exc).removeprefix("cfgenai "))
    network = ("httpx", "httpx2", "httpcore", "httpcore2", "aiohttp")
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in network:
        return EXIT_NETWORK, f"could not reach {service}: {type(exc).__name__}: {exc}"
    return EXIT_ERROR, f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def waiting(
    err: IO[str] | None, label: str, tick: float = 0.1, clock: Callable[[], float] = time.monotonic
) -> Iterator[Callable[[], None]]:
    """A spinner and the seconds waited, on ``err`` where it draws (a terminal, not TERM=dumb),
    until the block ends or calls the function it gets; then it erases itself."""
    stopped = threading.Event()

    def spin() -> None:
        started = clock()
        for frame in itertools.cycle("|/-\\"):
            print(f"\r{frame} {label} {int(clock() - started)} s", end="", file=err, flush=True)
            if stopped.wait(tick):
                break
        print("\r\033[K", end="", file=err, flush=True)  # erase the line

    def stop() -> None:
        stopped.set()
        if spinner.ident is not None:
            spinner.join()

    spinner = threading.Thread(target=spin, daemon=True)
    if err is not None and err.isatty() and os.environ.get("TERM") != "dumb":
        spinner.start()
    try:
        yield stop
    finally:
        stop()


class Refused(Exception):
    """A command's own refusal, or a failure it explains: ``Refused(exit_code, message)``."""


# google-genai's log line for a retry: what failed (GatewayUnreachable's words), else the error's
# class and HTTP status.
_RETRY = re.compile(
    r" in (?P<wait>\S+) seconds as it raised (?P<kind>\w+): "
    r"(?:cfgenai could not reach .+? at \S+: (?P<what>.+); \d+ attempts?\.$|(?P<status>\d{3}) )?"
)


@contextlib.contextmanager
def tried(err: IO[str] | None, root: str) -> Iterator[None]:
    """Each retry said on ``err``; a failure to reach ``root`` raised as :class:`Refused`
    saying what failed, where (host and port), the attempts and the seconds they took."""
    started, retries = time.monotonic(), 0

    def said(record: logging.LogRecord) -> bool:  # google-genai logs a retry, among other lines
        nonlocal retries
        if retry := _RETRY.search(record.getMessage()):
            retries += 1
            what = retry["what"] or " ".join(filter(None, (retry["kind"], retry["status"])))
            wait = float(retry["wait"])
            if err is not None:
                print(f"\rcfgenai: attempt {retries}: {what}; again in {wait:.1f} s", file=err)
        return True

    logger = logging.getLogger("google_genai._api_client")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addFilter(said)
    try:
        yield
    except Exception as exc:
        code, message = failure(exc, f"the gateway at {host_port(root)}")
        if code != EXIT_NETWORK:
            raise
        attempts = f"{retries + 1} attempt{'s' if retries else ''}"  # those before a cut answer too
        raise Refused(code, f"{message}; {attempts} in {time.monotonic() - started:.1f} s") from exc
    finally:
        logger.removeFilter(said)
        logger.setLevel(level)


# google-genai's backoff (defaults kept): CF_AIG_RETRY_DELAY, plus as much jitter, doubling to 60 s
BACKOFF_BASE, BACKOFF_MAX = 2.0, 60.0


@dataclass
class Diagnosis:
    """What ``cfgenai doctor`` found; each of ``settings`` has a name, variable, value, source."""

    settings: list[dict[str, str]]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env_file: str = ""
    url: str | None = None
    mode: str | None = None
    billing: str | None = None
    credentials: str | None = None
    worst_case_wait_s: float | None = None
    wait: str | None = None
    ping: dict[str, Any] | None = None
    exit_code: int = EXIT_OK


def diagnose(*, ping: bool) -> Diagnosis:
    """What ``cfgenai doctor`` reports, with a ping if ``ping``; every secret as its fingerprint."""
    reading = read(_settings.GatewaySettings)
    unknown = reading.warnings(_settings.GatewaySettings, {})  # unknown names: problems here
    found = Diagnosis(_sources(reading), env_file=describe_env_file(reading.env_file))
    try:
        settings, warned = _settings.from_reading(reading)
        plan = _plan.plan(settings)
        found.warnings = [w for w in warned if w not in unknown] + list(_risks(settings, plan))
        found.url = _plan.model_url(settings, settings.model)
        found.mode, found.billing = f"{plan.mode} ({plan.why})", plan.pays
        delays = (plan.retry_delay * (BACKOFF_BASE**i + 1) for i in range(plan.retries))
        backoff = sum(min(delay, BACKOFF_MAX) for delay in delays)
        found.worst_case_wait_s = total = plan.timeout * (plan.retries + 1) + backoff
        found.wait = (
            f"at worst {total:g} s before an answer starts or an error: {plan.timeout:g} s "
            f"(CF_AIG_TIMEOUT) x {plan.retries + 1} attempt{'s' if plan.retries else ''} "
            f"(CF_AIG_RETRIES={plan.retries}) + up to {backoff:g} s of backoff "
            f"(CF_AIG_RETRY_DELAY={plan.retry_delay:g})"
        )
        if plan.vertex is not None and plan.mode == "key":  # which credentials, never a secret
            found.credentials = "an access token (CF_AIG_VERTEX_ACCESS_TOKEN), never refreshed"
            if plan.vertex.credentials is not None:
                from ._credentials import shared  # google-auth, needed only here

                found.credentials = shared(plan.vertex.credentials).describe()
    except ConfigError as exc:
        found.problems += exc.problems
    found.problems += unknown
    if found.problems:
        found.exit_code = EXIT_CONFIG
    elif ping:
        found.ping, found.exit_code = _ping(settings)
    return Diagnosis(**_hidden(asdict(found), _settings.found_secrets(reading)))


def _sources(reading: Reading) -> list[dict[str, str]]:
    """Each setting's raw value and source; secrets and ``user:pw@`` URLs as fingerprints."""
    rows = []
    for name, names in _settings.variables().items():
        found = reading.find(names) or Found(default_text(name), names[0], "default")
        value = found.value
        hidden = value is not None and (name in _settings.SECRET_FIELDS or "@" in value)
        shown = "(not set)" if value is None else fingerprint(value) if hidden else printable(value)
        source = found.source + (f", alias {found.name}" if found.name != names[0] else "")
        rows.append({"name": name, "variable": names[0], "value": shown, "source": source})
    return rows


def _hidden(value: Any, secrets: list[str]) -> Any:
    """``value`` with every secret in its text as a fingerprint."""
    if isinstance(value, dict):
        return {k: _hidden(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_hidden(v, secrets) for v in value]
    return mask(value, secrets) if isinstance(value, str) else value


# Each credential by the provider it is for (None: the gateway); each kind's look and home field.
_CREDENTIALS = dict.fromkeys(("google_api_key", "gemini_api_key"), PROVIDER) | {"token": None}
_CREDENTIALS |= dict.fromkeys(("vertex_access_token", "vertex_credentials"), VERTEX)
_LOOKS = (
    ("a Google key (AIza...)", re.compile(r"AIza.+"), "google_api_key"),
    ("a Google access token (ya29...)", re.compile(r"ya29\..+"), "vertex_access_token"),
    ("a Cloudflare token", re.compile(r"cf(?:k|ut|at)_[\w-]+|(?!AIza)[\w-]{40}"), "token"),
)


def _risks(settings: _settings.GatewaySettings, plan: _plan.Plan) -> Iterator[str]:
    """Warnings for risky but legal setups."""
    for name in _settings.SECRET_FIELDS:
        value = getattr(settings, name)  # the settings refuse any other white space
        if value is not None and " " in value.get_secret_value():
            yield f"{_settings.variable(name)} holds a space: tokens and keys have none; copy it again"
    for name, provider in _CREDENTIALS.items():
        # Not a key that is the gateway token, as in Cloudflare's BYOK example: the mode says so.
        if (value := getattr(settings, name)) is None or (provider and value == settings.token):
            continue
        variable = _settings.variable(name)
        text = value.get_secret_value() if isinstance(value, SecretStr) else ""  # not a file's path
        for kind, shape, home in _LOOKS:  # one pasted in another's place is named
            if _CREDENTIALS[home] != provider and shape.fullmatch(text):
                first = _settings.variables()[home][0]
                yield f"{variable} looks like {kind}: set {first} to it instead"
        if provider and provider != settings.provider:
            yield f"{variable} is set but not sent: it is {provider}'s; unset it, or switch provider"
        elif provider and plan.mode == "byok":
            yield f"{variable} is set but not sent (byok mode): unset it, or use key mode"
    if plan.mode == "key" and settings.token is None:
        yield "key mode without CF_AIG_TOKEN: an authenticated gateway answers 401 (code 2009)"
    access = settings.access_token or settings.access_client_id
    if access and urlsplit(plan.gateway_root).hostname == CLOUDFLARE_HOST:
        yield "CF_AIG_ACCESS_* is set, but Access guards custom domains: set CF_AIG_BASE_URL to one"
    if plan.vertex is not None and plan.vertex.location == "global":
        yield "CF_AIG_VERTEX_LOCATION=global: Cloudflare routes few models there; try us-central1"
    if urlsplit(plan.gateway_root).scheme == "http":
        yield "CF_AIG_BASE_URL uses plain http: fine for a local emulator, not for a real gateway"
    if settings.base_url and settings.account_id:
        yield "CF_AIG_BASE_URL is set, so CF_AIG_ACCOUNT_ID and CF_AIG_GATEWAY_ID are not used"


def _ping(settings: _settings.GatewaySettings) -> tuple[dict[str, Any], int]:
    """The cheapest real request (the tokens of one word, never retried) and its exit code."""
    from ._client import build_client

    started = time.perf_counter()
    try:
        with build_client(settings, retries=0) as client:
            response = client.models.count_tokens(model=settings.model, contents="ping")
    except Exception as exc:  # every failure is reported, with its exit code
        code, message = failure(exc, f"the gateway at {host_port(settings.gateway_root)}")
        ping: dict[str, Any] = {"ok": False, "error": message}
    else:
        code, http = EXIT_OK, response.sdk_http_response
        headers = {k.lower(): v for k, v in ((http and http.headers) or {}).items()}
        gateway = {k: v for k, v in headers.items() if k.startswith("cf-aig-")}
        note = "an HTTP call: Live (WebSocket) sessions are not checked"
        ping = {"ok": True, "status": 200, "headers": gateway, "note": note}
    ping["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return ping, code


def print_diagnosis(diagnosis: Diagnosis, out: IO[str], *, show_all: bool = False) -> None:
    """Write the diagnosis for people; settings at their defaults only with ``show_all``."""
    colored = out.isatty() and "NO_COLOR" not in os.environ

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colored else text

    d, columns = diagnosis, ("variable", "value", "source")
    named = {found[0] for p in d.problems if (found := re.match(r"\w+", p))}
    rows = [s for s in d.settings if show_all or s["source"] != "default" or s["variable"] in named]
    if rows:
        table = [columns, *([row[c] for c in columns] for row in rows)]
        width, vwidth = max(len(r[0]) for r in table), min(40, max(len(r[1]) for r in table))
        out.writelines(f"{v:<{width}}  {value:<{vwidth}}  {source}\n" for v, value, source in table)
    if hidden := len(d.settings) - len(rows):
        unset = "" if rows else "no variable is set; "
        out.write(f"({unset}{hidden} more at their defaults: cfgenai doctor --all shows them)\n")
    out.write(f"\n.env  {d.env_file}\n")
    if d.url:
        out.write(f"\nURL   {d.url}\nmode  {d.mode}\nwait  {d.wait}\npays  {d.billing}\n")
    if d.credentials:
        out.write(f"creds {d.credentials}\n")
    for title, items, color in (("problems", d.problems, "31"), ("warnings", d.warnings, "33")):
        if items:
            out.write(f"\n{paint(title, color)}:\n" + "".join(f"  - {item}\n" for item in items))
    if (ping := d.ping) and ping["ok"]:
        headers = ", ".join(f"{k}={v}" for k, v in ping["headers"].items()) or "no cf-aig-* headers"
        out.write(f"\nping  {paint('ok', '32')}: 200 in {ping['latency_ms']} ms; {headers}\n")
        out.write(f"      {ping['note']}\n")
    elif ping:
        ms, error = ping["latency_ms"], ping["error"]
        out.write(f"\nping  {paint('failed', '31')} after {ms} ms: {error}\n")
    verdict = ("all good", "32") if d.exit_code == EXIT_OK else ("not ready", "31")
    out.write(f"\n{paint(*verdict)}\n")
