"""The ``cfgenai`` command line. Each command is a function of its parsed arguments that returns
the exit code, its docstring its help; ``@_command`` declares its arguments. google-genai is
imported only by the commands that use it, so ``--help`` stays fast."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import inspect
import ipaddress
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from . import __version__
from ._checks import is_loopback
from ._commands import EXIT_CODES, EXIT_ERROR, EXIT_OK, EXIT_USAGE, Waiting, failure
from ._errors import ConfigError
from ._secrets import fingerprint, printable

# Not wrangler's 8787 or 8788, nor a usual dev-server port, nor in /etc/services.
DEFAULT_PORT = 6787
TESTING_EXTRA = "the testing extra: pip install 'cfgenai[testing]'"

Command = Callable[[argparse.Namespace], int]
Argument = tuple[tuple[str, ...], dict[str, Any]]
# The commands in `--help` order, each with its arguments (a list: at most one of them).
_COMMANDS: list[tuple[Command, tuple[Argument | list[Argument], ...]]] = []


class _Refused(Exception):
    """A command's own refusal (bad usage, a missing extra): its message and exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: ``sys.argv[1:]``) names; returns its exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every failure becomes a message and its documented exit code
        service = "Cloudflare's API" if args.command in ("log", "feedback") else "the gateway"
        code, message = (exc.code, str(exc)) if isinstance(exc, _Refused) else failure(exc, service)
        if getattr(args, "json", False):  # on stdout, where the answer would be
            error: dict[str, object] = {"ok": False, "exit_code": code, "error": message}
            if isinstance(exc, ConfigError):
                error["problems"] = list(exc.problems)
            print(json.dumps(error, indent=2))
        else:
            print(f"cfgenai: {message}", file=sys.stderr)
        return code


def _parser() -> argparse.ArgumentParser:
    # Descriptions and the exit codes that end every help are printed as written.
    shared: dict[str, Any] = {
        "epilog": EXIT_CODES,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    parser = argparse.ArgumentParser(
        prog="cfgenai",
        description="google-genai through Cloudflare AI Gateway, configured from the environment\n"
        "(CF_AIG_* variables and a .env file; `cfgenai env` lists them).",
        **shared,
    )
    parser.add_argument("--version", action="version", version=f"cfgenai {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for run, arguments in _COMMANDS:
        summary, description = inspect.cleandoc(run.__doc__ or "").split("\n\n")
        name = run.__name__.lstrip("_")
        sub = commands.add_parser(name, help=summary, description=description, **shared)
        sub.set_defaults(run=run)
        for argument in arguments:
            group = sub.add_mutually_exclusive_group() if isinstance(argument, list) else sub
            for names, options in argument if isinstance(argument, list) else [argument]:
                group.add_argument(*names, **options)
    return parser


def _command(*arguments: Argument | list[Argument]) -> Callable[[Command], Command]:
    def declare(run: Command) -> Command:
        _COMMANDS.append((run, arguments))
        return run

    return declare


def _arg(*names: str, **options: Any) -> Argument:
    return names, options


def _flag(name: str, help: str) -> Argument:
    return (name,), {"action": "store_true", "help": help}


def _number(kind: Callable[[str], float], low: float, high: float, what: str) -> Any:
    """An argparse ``type``: ``kind(text)`` from ``low`` to ``high``, else "'TEXT' is not {what}"."""

    def parse(text: str) -> float:
        with contextlib.suppress(ValueError):
            if low <= (value := kind(text)) <= high:
                return value
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")

    return parse


_positive = _number(int, 1, sys.maxsize, "a positive whole number")


@_command(
    _arg("prompt", help="the prompt; - reads it from stdin"),
    _arg("--model", help="model to ask (default: CF_AIG_MODEL, else gemini-2.5-flash)"),
    _flag("--no-stream", "print the answer once it is complete"),
    _flag("--json", "print the response and the gateway's response info (or the error) as JSON"),
)
def _ask(args: argparse.Namespace) -> int:
    """send one prompt through the configured gateway

    Stream the answer to PROMPT, sent through the gateway the environment configures. Errors go
    to stderr (with --json, to stdout); the exit code says whose they are."""
    from ._client import build_client
    from ._responses import gateway_info
    from ._settings import GatewaySettings

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise _Refused(EXIT_USAGE, "the prompt is empty")
    try:
        settings = GatewaySettings(**({"model": args.model} if args.model is not None else {}))
    except ConfigError as exc:
        if args.model is None:
            raise
        # The flag, not the variable it overrides, holds the bad model name.
        raise ConfigError(p.replace("CF_AIG_MODEL:", "--model:", 1) for p in exc.problems) from None
    model = settings.model
    with (
        build_client(settings) as client,
        Waiting(None if args.json else sys.stderr, f"waiting for {model}") as waiting,
    ):
        if args.json or args.no_stream:
            response = client.models.generate_content(model=model, contents=prompt)
        else:
            written = False
            try:
                for chunk in client.models.generate_content_stream(model=model, contents=prompt):
                    waiting.stop()
                    print(chunk.text or "", end="", flush=True)
                    written = written or bool(chunk.text)
            except BaseException:
                if written:  # end the partial answer's line, so the error starts on its own
                    print(flush=True)
                raise
            print()
            return EXIT_OK
    if args.json:
        answer = response.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"})
        info = dataclasses.asdict(gateway_info(response))
        print(json.dumps({"response": answer, "gateway": info}, indent=2))
    else:
        print(response.text or "")
    return EXIT_OK


@_command(
    _flag("--ping", "also make the cheapest real request (count the tokens of one word)"),
    _flag("--all", "list every setting, those at their defaults too"),
    _flag("--json", "print the diagnosis (every setting) as JSON"),
)
def _doctor(args: argparse.Namespace) -> int:
    """check the configuration, for people and CI steps

    Print the settings (secrets as fingerprints) and where they came from, the URL, the mode and
    why, who pays, the longest wait, each problem with its fix, and risks. Exits 0 if all is well."""
    from ._commands import diagnose, print_diagnosis

    diagnosis = diagnose(ping=args.ping)
    if args.json:
        print(diagnosis.to_json())
    else:
        print_diagnosis(diagnosis, sys.stdout, show_all=args.all)
    return diagnosis.exit_code


_LOG_ID = _arg("log_id", metavar="LOG_ID", help="the log id the gateway gave the request")


@_command(_LOG_ID, _flag("--json", "print the entry as JSON"))
def _log(args: argparse.Namespace) -> int:
    """print the gateway's log entry of a request: cost, tokens, status, feedback

    Print the log entry LOG_ID (from `cfgenai ask --json`) from Cloudflare's REST API. Needs
    CLOUDFLARE_API_TOKEN, an API token with AI Gateway Read permission (not the gateway's)."""
    from .logs import get_log

    entry = dataclasses.asdict(get_log(args.log_id))
    entry.pop("raw")
    shown = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in entry.items()}
    if args.json:
        print(json.dumps(shown, indent=2))
        return EXIT_OK
    for name, value in shown.items():  # aligned lines for people
        if value in (None, {}):
            value = "(none)"
        elif isinstance(value, dict):
            value = json.dumps(value)
        print(f"{name:<12}{printable(str(value))}")
    return EXIT_OK


@_command(
    _LOG_ID,
    _arg("--score", type=_number(float, 0, 100, "a score from 0 to 100"), help="0 to 100"),
    [_flag("--good", "feedback 1 (thumbs up)"), _flag("--bad", "feedback -1 (thumbs down)")],
)
def _feedback(args: argparse.Namespace) -> int:
    """rate a logged request: good or bad, and a score

    Rate the request logged as LOG_ID through Cloudflare's REST API. Needs CLOUDFLARE_API_TOKEN
    with AI Gateway Edit permission."""
    from .logs import feedback

    given = 1 if args.good else -1 if args.bad else None
    if given is None and args.score is None:
        raise _Refused(EXIT_USAGE, "give --good, --bad or --score N (or both)")
    feedback(args.log_id, feedback=given, score=args.score)
    parts = [{1: "good", -1: "bad"}[given]] if given is not None else []
    parts += [f"score {args.score:g}"] if args.score is not None else []
    print(f"feedback recorded for {args.log_id}: {', '.join(parts)}")
    return EXIT_OK


@_command(_arg("--format", choices=["dotenv", "markdown"], default="dotenv", help="%(choices)s"))
def _env(args: argparse.Namespace) -> int:
    """print an annotated .env template of every variable

    Print a .env template generated from the settings (or the docs' markdown tables)."""
    from ._reference import env_template, markdown_tables

    sys.stdout.write(markdown_tables() if args.format == "markdown" else env_template())
    return EXIT_OK


@_command(
    _arg("--model", default="gemini-2.5-flash", help="default: %(default)s"),
    _arg("--prompt", default="What is Cloudflare?", help="default: %(default)s"),
)
def _demo(args: argparse.Namespace) -> int:
    """both auth modes against a local gateway emulator (needs cfgenai[testing])

    Send a request and a streaming one in key mode and in byok mode to the emulator, and print
    what it received (secrets masked) and answered. No credentials, no network. Needs the
    testing extra: pip install 'cfgenai[testing]'."""
    try:
        from ._demo import run_demo
    except ImportError as exc:
        raise _Refused(EXIT_ERROR, f"cfgenai demo needs {TESTING_EXTRA} ({exc})") from exc
    run_demo(model=args.model, prompt=args.prompt)
    return EXIT_OK


@_command(
    _arg("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"),
    _arg(
        "--port",
        type=_number(int, 0, 65535, "a port: use 1-65535, or 0 for a free one"),
        default=DEFAULT_PORT,
        help="0 picks a free one (default: %(default)s)",
    ),
    _flag("--allow-remote", "allow a --host that is not a loopback address"),
    _arg("--token", help="the gateway token to require (default: CF_AIG_TOKEN; unset: none)"),
    _arg("--google-key", action="append", dest="google_keys", help="a key to accept (repeatable)"),
    _arg("--stored-key", help="the BYOK key added to requests without one (default: built in)"),
    _arg("--account-id", help="the only account id routed (default: CF_AIG_ACCOUNT_ID)"),
    _arg("--gateway-id", help="the only gateway id routed (default: CF_AIG_GATEWAY_ID)"),
    _arg("--cache-ttl", type=int, help="the gateway's own cache TTL in seconds (default: off)"),
    _arg("--journal-size", type=_positive, default=10_000, help="requests kept (%(default)s)"),
    _arg("--body-limit", type=_positive, default=2**25, help="bytes; more get 413 (%(default)s)"),
)
def _gateway(args: argparse.Namespace) -> int:
    """serve the gateway emulator to any HTTP client (needs cfgenai[testing])

    Serve the Cloudflare AI Gateway emulator until Ctrl-C or SIGTERM, one line logged per
    request. It reads the variables a client reads (CF_AIG_TOKEN, GOOGLE_API_KEY or
    GEMINI_API_KEY, CF_AIG_ACCOUNT_ID, CF_AIG_GATEWAY_ID; unset: any is accepted), and the
    options override them. Needs the testing extra: pip install 'cfgenai[testing]'."""
    try:
        from .testing import GatewayEmulator
        from .testing._emulator import DEFAULT_STORED_KEY
    except ImportError as exc:
        raise _Refused(EXIT_ERROR, f"cfgenai gateway needs {TESTING_EXTRA} ({exc})") from exc
    if not args.allow_remote and not is_loopback(args.host):
        raise _Refused(
            EXIT_USAGE,
            f"refusing to listen on {args.host}, which is not a loopback address; "
            "pass --allow-remote if you mean it",
        )
    from ._settings import GatewaySettings, variables
    from ._sources import read

    reading = read(GatewaySettings)  # what a client reads: the options override it
    if reading.problems:
        raise ConfigError(reading.problems)
    names = ("token", "account_id", "gateway_id", "google_api_key", "gemini_api_key")
    env = {n: f.value for n in names if (f := reading.find(variables()[n])) and f.value}
    keys = [env.pop(k) for k in ("google_api_key", "gemini_api_key") if k in env]
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "run")}
    given["stored_keys"] = {"default": given.pop("stored_key", None) or DEFAULT_STORED_KEY}
    emulator = GatewayEmulator(
        **{**env, "google_keys": keys or None, **given},
        log=lambda line: print(line, flush=True),
    )

    def ready() -> None:  # the token is never printed: the client reads it, or is asked for it
        base_url = emulator.base_url
        with contextlib.suppress(ValueError):  # a wildcard address is none to connect to
            if ipaddress.ip_address(args.host.strip("[]")).is_unspecified:
                loopback = "[::1]" if ":" in args.host else "127.0.0.1"
                base_url = base_url.replace(emulator.url, f"http://{loopback}:{emulator.port}")
        token = emulator.token and fingerprint(emulator.token)
        access = f"requires token {token}" if token else "open: no token required"
        required = f'"${{CF_AIG_TOKEN:?set it to the token the emulator requires, {token}}}"'
        print(f"# cfgenai gateway emulator on {emulator.url} ({access}); Ctrl-C stops it")
        print(f"export CF_AIG_BASE_URL={shlex.quote(base_url)}")
        print(f"export CF_AIG_TOKEN={required if token else emulator.env()['CF_AIG_TOKEN']}")
        print("export CF_AIG_MODE=byok  # the emulator adds its stored key", flush=True)

    if not is_loopback(args.host):
        print(
            f"cfgenai: warning: listening on {args.host}, reachable from the network, with no "
            "real security; cfgenai's clients use plain http only to this machine: from "
            "another one, put a TLS proxy in front",
            file=sys.stderr,
        )
    why = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs privileges"}
    try:
        emulator.serve_forever(on_ready=ready)
    except OSError as exc:
        if exc.errno not in (*why, errno.EADDRNOTAVAIL):
            raise
        raise _Refused(
            EXIT_USAGE,
            f"port {args.port} on {args.host} {why.get(exc.errno, 'is not available')}; "
            "choose another with --port, or --port 0 to pick a free one",
        ) from exc
    print("cfgenai gateway emulator stopped", flush=True)
    return EXIT_OK
