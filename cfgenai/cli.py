"""The ``cfgenai`` command line: ``ask``, ``doctor``, ``log``, ``feedback``, ``env``, ``demo``
and ``gateway``.

Parsing only; google-genai is imported when a command needs it, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import shlex
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from ._checks import is_loopback
from ._commands import EXIT_CODES, EXIT_ERROR, EXIT_OK, EXIT_USAGE, failure
from ._errors import ConfigError
from ._secrets import fingerprint

# The standalone emulator's port: not 8787 (`wrangler dev`) or 8788 (`wrangler pages dev`), nor
# 3000, 4200, 5000, 5173, 8000, 8080 or 8888 (Node, Angular, Flask, Vite, Django and uvicorn,
# Java and proxies, Jupyter), and not in /etc/services.
DEFAULT_PORT = 6787


# The extra that `demo` and `gateway` need, named in their help and in the error without it.
TESTING_EXTRA = "the testing extra: pip install 'cfgenai[testing]'"


class _Refused(Exception):
    """A command's own refusal (bad usage, a missing extra): its message and exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every failure becomes a message and its documented exit code
        service = "Cloudflare's API" if args.run in (_log, _feedback) else "the gateway"
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
    # Every parser's help ends with the exit codes, laid out as written.
    shared: dict[str, Any] = {
        "epilog": EXIT_CODES,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    parser = argparse.ArgumentParser(
        prog="cfgenai",
        description="google-genai through Cloudflare AI Gateway, configured from the environment "
        "(CF_AIG_* variables and a .env file; `cfgenai env` lists them).",
        **shared,
    )
    parser.add_argument("--version", action="version", version=f"cfgenai {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description, **shared)
        sub.set_defaults(run=globals()[f"_{name}"])
        return sub

    ask = command(
        "ask",
        "send one prompt through the configured gateway",
        "Send PROMPT through the gateway that the environment configures and stream the answer "
        "to stdout as it arrives. Errors go to stderr; the exit code says whose they are.",
    )
    ask.add_argument("prompt", help="the prompt; - reads it from stdin")
    ask.add_argument("--model", help="model to ask (default: CF_AIG_MODEL, else gemini-2.5-flash)")
    ask.add_argument(
        "--no-stream", action="store_true", help="print the answer once it is complete"
    )
    ask.add_argument(
        "--json",
        action="store_true",
        help="print the whole response and the gateway's response info as JSON (not streamed); "
        "errors too, with the same exit codes",
    )

    doctor = command(
        "doctor",
        "check the configuration, for people and CI steps",
        "Print the settings that are set or have a problem (--all: every setting) with their "
        "values (secrets as short fingerprints that two people can compare) and where they came "
        "from, the final URL, the mode and why, the longest a request can wait (timeout x "
        "attempts + backoff), every problem with its fix, and warnings for risky setups. Exits 0 "
        "only when all is well.",
    )
    doctor.add_argument(
        "--ping",
        action="store_true",
        help="also make the cheapest real request (count the tokens of one word) and report it",
    )
    doctor.add_argument(
        "--all", action="store_true", help="list every setting, those at their defaults too"
    )
    doctor.add_argument(
        "--json", action="store_true", help="print the diagnosis (every setting) as JSON"
    )

    log = command(
        "log",
        "print the gateway's log entry of a request: cost, tokens, status, feedback",
        "Print the log entry LOG_ID (from `cfgenai ask --json` or gateway_info(response).log_id) "
        "from Cloudflare's REST API: model, status, tokens, cost, metadata. Needs "
        "CLOUDFLARE_API_TOKEN, a Cloudflare API token with AI Gateway Read permission (not the "
        "gateway token).",
    )
    log.add_argument("log_id", metavar="LOG_ID", help="the log id the gateway gave the request")
    log.add_argument("--json", action="store_true", help="print the entry as JSON")

    rate = command(
        "feedback",
        "rate a logged request: good or bad, and a score",
        "Give the request logged as LOG_ID a thumbs-up (--good) or down (--bad) and/or a score "
        "from 0 to 100, through Cloudflare's REST API. Needs CLOUDFLARE_API_TOKEN with AI "
        "Gateway Edit permission.",
    )
    rate.add_argument("log_id", metavar="LOG_ID", help="the log id the gateway gave the request")
    rate.add_argument("--score", type=_score, help="a score from 0 to 100")
    verdict = rate.add_mutually_exclusive_group()
    verdict.add_argument("--good", action="store_true", help="feedback 1 (thumbs up)")
    verdict.add_argument("--bad", action="store_true", help="feedback -1 (thumbs down)")

    env = command(
        "env",
        "print an annotated .env template of every variable",
        "Print a .env template generated from the settings model, every variable explained.",
    )
    env.add_argument(
        "--format",
        choices=["dotenv", "markdown"],
        default="dotenv",
        help="dotenv (default) or the documentation's markdown tables",
    )

    demo = command(
        "demo",
        "both auth modes against a local gateway emulator (needs cfgenai[testing])",
        "Start the gateway emulator on 127.0.0.1, send a normal and a streaming request in key "
        "mode and in byok mode through build_client(), and print what the gateway received "
        f"(secrets masked) and answered. No credentials, no network. Needs {TESTING_EXTRA}.",
    )
    demo.add_argument(
        "--model", default="gemini-2.5-flash", help="model name (default: %(default)s)"
    )
    demo.add_argument(
        "--prompt", default="What is Cloudflare?", help="prompt (default: %(default)s)"
    )

    gateway = command(
        "gateway",
        "serve the gateway emulator to any HTTP client (needs cfgenai[testing])",
        "Serve the Cloudflare AI Gateway emulator until Ctrl-C or SIGTERM. It takes its settings "
        "from the variables a client reads (and the .env file): CF_AIG_TOKEN is the token it "
        "requires, GOOGLE_API_KEY/GEMINI_API_KEY the keys it accepts (any key when unset), "
        "CF_AIG_ACCOUNT_ID/CF_AIG_GATEWAY_ID the ids it routes (any when unset); options "
        f"override each. One line is logged per request, secrets masked. Needs {TESTING_EXTRA}.",
    )
    gateway.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    gateway.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help="port; 0 picks a free one (default: %(default)s)",
    )
    gateway.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (the emulator has no real security)",
    )
    gateway.add_argument(
        "--token", help="gateway token to require (default: CF_AIG_TOKEN; unset: none)"
    )
    gateway.add_argument(
        "--google-key",
        action="append",
        dest="google_keys",
        metavar="KEY",
        help="a Google key to accept, repeatable (default: GOOGLE_API_KEY, GEMINI_API_KEY; unset: any)",
    )
    gateway.add_argument(
        "--stored-key",
        help="the BYOK key the gateway adds when a request has none (default: a built-in one)",
    )
    gateway.add_argument(
        "--account-id", help="the only account id routed (default: CF_AIG_ACCOUNT_ID; unset: any)"
    )
    gateway.add_argument(
        "--gateway-id", help="the only gateway id routed (default: CF_AIG_GATEWAY_ID; unset: any)"
    )
    gateway.add_argument(
        "--cache-ttl", type=int, help="the gateway's own cache TTL in seconds (default: off)"
    )
    gateway.add_argument(
        "--journal-size",
        type=_positive,
        default=10_000,
        help="requests remembered, oldest forgotten first (default: %(default)s)",
    )
    gateway.add_argument(
        "--body-limit",
        type=_positive,
        default=32 * 2**20,
        help="largest request body in bytes; larger ones get 413 (default: %(default)s)",
    )
    return parser


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port: use 1-65535, or 0 for a free one"
        )
    return port


def _score(text: str) -> float:
    try:
        score = float(text)
    except ValueError:
        score = -1.0
    if not 0 <= score <= 100:
        raise argparse.ArgumentTypeError(f"{text!r} is not a score: use a number from 0 to 100")
    return int(score) if score.is_integer() else score


def _positive(text: str) -> int:
    number = int(text) if text.isdigit() else 0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return number


def _ask(args: argparse.Namespace) -> int:
    from ._commands import ask

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise _Refused(EXIT_USAGE, "the prompt is empty")
    ask(
        prompt,
        model=args.model,
        stream=not args.no_stream,
        as_json=args.json,
        out=sys.stdout,
        err=sys.stderr,
    )
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from ._commands import diagnose, print_diagnosis

    diagnosis = diagnose(ping=args.ping)
    if args.json:
        print(diagnosis.to_json())
    else:
        print_diagnosis(diagnosis, sys.stdout, show_all=args.all)
    return diagnosis.exit_code


def _log(args: argparse.Namespace) -> int:
    from ._commands import print_log_entry
    from .logs import get_log

    print_log_entry(get_log(args.log_id), sys.stdout, as_json=args.json)
    return EXIT_OK


def _feedback(args: argparse.Namespace) -> int:
    from .logs import feedback

    given = 1 if args.good else -1 if args.bad else None
    if given is None and args.score is None:
        raise _Refused(EXIT_USAGE, "give --good, --bad or --score N (or both)")
    feedback(args.log_id, feedback=given, score=args.score)
    parts = [{1: "good", -1: "bad"}[given]] if given is not None else []
    parts += [f"score {args.score:g}"] if args.score is not None else []
    print(f"feedback recorded for {args.log_id}: {', '.join(parts)}")
    return EXIT_OK


def _env(args: argparse.Namespace) -> int:
    from ._reference import env_template, markdown_tables

    sys.stdout.write(markdown_tables() if args.format == "markdown" else env_template())
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    try:
        from ._demo import run_demo
    except ImportError as exc:
        raise _Refused(EXIT_ERROR, f"cfgenai demo needs {TESTING_EXTRA} ({exc})") from exc
    run_demo(model=args.model, prompt=args.prompt)
    return EXIT_OK


def _gateway(args: argparse.Namespace) -> int:
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
    env = _configured()
    keys = args.google_keys or [env[k] for k in ("google_api_key", "gemini_api_key") if env.get(k)]
    emulator = GatewayEmulator(
        token=args.token if args.token is not None else env.get("token"),
        google_keys=keys or None,
        stored_keys={"default": args.stored_key or DEFAULT_STORED_KEY},
        account_id=args.account_id or env.get("account_id"),
        gateway_id=args.gateway_id or env.get("gateway_id"),
        cache_ttl=args.cache_ttl,
        log=lambda line: print(line, flush=True),
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        journal_size=args.journal_size,
        body_limit=args.body_limit,
    )

    def ready() -> None:
        token = (
            f"requires token {fingerprint(emulator.token)}"
            if emulator.token
            else "open: no token required"
        )
        print(f"# cfgenai gateway emulator on {emulator.url} ({token}); Ctrl-C stops it")
        print(f"export CF_AIG_BASE_URL={shlex.quote(_client_url(emulator.base_url, args.host))}")
        if emulator.token:  # never printed: the client reads the same variable, or is told
            hint = f"set it to the token the emulator requires, {fingerprint(emulator.token)}"
            print(f'export CF_AIG_TOKEN="${{CF_AIG_TOKEN:?{hint}}}"')
        else:  # the client needs one for byok; an open gateway takes any
            print("export CF_AIG_TOKEN=open-gateway-any-token-works")
        print("export CF_AIG_MODE=byok  # the emulator adds its stored key", flush=True)

    if not is_loopback(args.host):
        print(
            f"cfgenai: warning: listening on {args.host}, reachable from the network, with no "
            "real security; cfgenai's clients send credentials over plain http only to this "
            "machine: from another one, put a TLS proxy in front",
            file=sys.stderr,
        )
    try:
        emulator.serve_forever(on_ready=ready)
    except OSError as exc:
        if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise
        why = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs privileges"}.get(
            exc.errno, "is not available"
        )
        raise _Refused(
            EXIT_USAGE,
            f"port {args.port} on {args.host} {why}; choose another with --port, "
            "or --port 0 to pick a free one",
        ) from exc
    print("cfgenai gateway emulator stopped", flush=True)
    return EXIT_OK


def _client_url(base_url: str, host: str) -> str:
    """Where a client on this machine reaches an emulator listening on ``host``: a wildcard
    address (0.0.0.0, ::) is no address to connect to."""
    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return base_url
    if not wildcard:
        return base_url
    return base_url.replace(
        host if ":" not in host else f"[{host}]", "[::1]" if ":" in host else "127.0.0.1", 1
    )


def _configured() -> dict[str, str]:
    """Each setting's raw value as a client reads it (environment over .env, aliases too)."""
    from ._settings import GatewaySettings, variables
    from ._sources import read

    reading = read(GatewaySettings)
    if reading.problems:
        raise ConfigError(reading.problems)
    found = {name: reading.find(names) for name, names in variables().items()}
    return {name: f.value for name, f in found.items() if f is not None}
