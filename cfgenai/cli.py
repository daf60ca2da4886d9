"""The ``cfgenai`` command line; google-genai is imported only inside commands (fast --help)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import functools
import ipaddress
import json
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from . import ConfigError, GatewaySettings, __version__, _commands
from ._checks import is_loopback
from ._commands import EXIT_OK, EXIT_USAGE, Refused
from ._reference import env_template, markdown_tables
from ._secrets import fingerprint, mask_headers, printable
from ._sources import read, variables

_ABOUT = """google-genai through Cloudflare AI Gateway, configured from the environment
(CF_AIG_* variables and a .env file; `cfgenai env` lists them)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` (default: ``sys.argv[1:]``) names; returns its exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every failure becomes a message and its documented exit code
        service = "Cloudflare's API" if args.command in ("log", "feedback") else "the gateway"
        code, message = _commands.failure(exc, service)
        if isinstance(exc, ImportError) and args.command in ("demo", "gateway"):  # code stays 1
            extra = "the testing extra: pip install 'cfgenai[testing]'"
            message = f"cfgenai {args.command} needs {extra} ({exc})"
        problems = {"problems": list(exc.problems)} if isinstance(exc, ConfigError) else {}
        if not _json(args, {"ok": False, "exit_code": code, "error": message, **problems}):
            print(f"cfgenai: {message}", file=sys.stderr)
        return int(code)


def _json(args: argparse.Namespace, data: dict[str, Any]) -> bool:
    """Whether ``--json`` was given; if so, ``data`` printed as JSON, where an answer goes."""
    if wanted := bool(getattr(args, "json", False)):
        print(json.dumps(data, indent=2, default=datetime.isoformat))
    return wanted


def _number(kind: Callable[[str], float], low: float, high: float, what: str, text: str) -> float:
    """``kind(text)``, from ``low`` to ``high``, else an argparse error: "'TEXT' is not {what}"."""
    with contextlib.suppress(ValueError):
        if low <= (value := kind(text)) <= high:
            return value
    raise argparse.ArgumentTypeError(f"{text!r} is not {what}")


_positive = functools.partial(_number, int, 1, sys.maxsize, "a positive whole number")
_port = functools.partial(_number, int, 0, 65535, "a port: use 1-65535, or 0 for a free one")
_score = functools.partial(_number, float, 0, 100, "a score from 0 to 100")


def _ask(args: argparse.Namespace) -> int:
    """send one prompt through the configured gateway and stream the answer"""
    from ._client import build_client
    from ._responses import gateway_info

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        raise Refused(EXIT_USAGE, "the prompt is empty")
    try:
        settings = GatewaySettings(**({"model": args.model} if args.model is not None else {}))
    except ConfigError as exc:  # a bad --model is the flag's, not the variable's it overrides
        named = "CF_AIG_MODEL:" if args.model is None else "--model:"
        raise ConfigError(p.replace("CF_AIG_MODEL:", named, 1) for p in exc.problems) from None
    model, err = settings.model, None if args.json else sys.stderr
    with (
        build_client(settings) as client,
        _commands.tried(err, settings.gateway_root),
        _commands.waiting(err, f"waiting for {model}") as stop_waiting,
    ):
        if args.json or args.no_stream:
            response = client.models.generate_content(model=model, contents=prompt)
        else:
            end = ""  # the answer's line is ended, a partial one too: an error starts on its own
            try:
                for chunk in client.models.generate_content_stream(model=model, contents=prompt):
                    stop_waiting()
                    print(chunk.text or "", end="", flush=True)
                    end = "\n" if chunk.text else end
                end = "\n"
            finally:
                print(end=end, flush=True)
            return EXIT_OK
    answer = response.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"})
    if not _json(args, {"response": answer, "gateway": dataclasses.asdict(gateway_info(response))}):
        print(response.text or "")
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    """check the configuration and say what to fix (exit 0 only if all is well)"""
    found = _commands.diagnose(ping=args.ping)
    if not _json(args, {"ok": found.exit_code == EXIT_OK, **dataclasses.asdict(found)}):
        _commands.print_diagnosis(found, sys.stdout, show_all=args.all)
    return found.exit_code


def _log(args: argparse.Namespace) -> int:
    """print a request's gateway log entry (needs CLOUDFLARE_API_TOKEN with AI Gateway Read)"""
    from .logs import get_log

    entry = {k: v for k, v in dataclasses.asdict(get_log(args.log_id)).items() if k != "raw"}
    if not _json(args, entry):
        for name, value in entry.items():  # aligned lines for people
            shown = json.dumps(value) if isinstance(value, dict) else value
            print(f"{name:<12}{printable(str('(none)' if value in (None, {}) else shown))}")
    return EXIT_OK


def _feedback(args: argparse.Namespace) -> int:
    """rate a logged request (needs CLOUDFLARE_API_TOKEN with AI Gateway Edit)"""
    from .logs import feedback

    said = ["good"] if args.good else ["bad"] if args.bad else []
    said += [f"score {args.score:g}"] if args.score is not None else []
    if not said:
        raise Refused(EXIT_USAGE, "give --good, --bad or --score N (or both)")
    feedback(args.log_id, feedback=1 if args.good else -1 if args.bad else None, score=args.score)
    print(f"feedback recorded for {args.log_id}: {', '.join(said)}")
    return EXIT_OK


def _env(args: argparse.Namespace) -> int:
    """print an annotated .env template of every variable"""
    sys.stdout.write(markdown_tables() if args.format == "markdown" else env_template())
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    """both auth modes against a local gateway emulator (needs pip install 'cfgenai[testing]')"""
    from ._client import build_client
    from .testing import GatewayEmulator

    token, google_key = "demo-gateway-token", "demo-google-key"  # made up: only its emulator's
    asked = {"model": args.model, "contents": args.prompt}
    with GatewayEmulator(token=token, google_keys=[google_key]) as gateway:
        print(f"Gateway emulator listening on {gateway.url} (CF_AIG_BASE_URL={gateway.base_url})")
        base: dict[str, Any] = dict(base_url=gateway.base_url, token=token, _env_file=None)
        for mode, key, title in (
            ("key", google_key, "your Google key travels in x-goog-api-key"),
            ("byok", None, "no provider key on the wire, the gateway adds the one it stores"),
        ):
            with build_client(**base, google_api_key=key, gemini_api_key=None, mode=mode) as client:
                calls = [("generate_content", client.models.generate_content(**asked).text or "")]
                chunks = [c.text or "" for c in client.models.generate_content_stream(**asked)]
            calls.append((f"generate_content_stream ({len(chunks)} chunks)", "".join(chunks)))
            print(f"\n== {mode} mode: {title} ==")
            for (call, answer), request in zip(calls, gateway.requests[-2:], strict=True):
                query = f"?{request.query}" if request.query else ""
                print(f"{call}\n  gateway received: {request.method} {request.path}{query}")
                headers = mask_headers(request.headers)
                for name in ("cf-aig-authorization", "x-goog-api-key", "content-type"):
                    print(f"    {name}: {headers.get(name, '(absent)')}")
                print(f"    body: {request.body.decode()}\n  gateway answered: {answer}")
    print(
        "\nSame code, real gateway: set CF_AIG_ACCOUNT_ID, CF_AIG_GATEWAY_ID, CF_AIG_TOKEN "
        "(and GOOGLE_API_KEY for key mode), then `from cfgenai import client`."
    )
    return EXIT_OK


def _gateway(args: argparse.Namespace) -> int:
    """serve the gateway emulator to any HTTP client (needs pip install 'cfgenai[testing]')"""
    from .testing import GatewayEmulator
    from .testing._emulator import OPEN_GATEWAY_TOKEN

    if not is_loopback(args.host):
        if not args.allow_remote:
            refusal = f"refusing to listen on {args.host}, which is not a loopback address"
            raise Refused(EXIT_USAGE, f"{refusal}; pass --allow-remote if you mean it")
        warning = f"listening on {args.host}, reachable from the network with no real security"
        print(f"cfgenai: warning: {warning}: put a TLS proxy in front", file=sys.stderr)
    reading = read(GatewaySettings)  # what a client reads: the options override it
    if reading.problems:
        raise ConfigError(reading.problems)
    found = {k: v for k, v in reading.data(GatewaySettings).items() if v}
    keys = [found[k] for k in ("google_api_key", "gemini_api_key") if k in found] or None
    env = {k: found.get(k) for k in ("token", "api_token", "account_id", "gateway_id")}
    given = {k: v for k, v in vars(args).items() if v is not None and k not in ("command", "run")}
    if "stored_key" in given:
        given["stored_keys"] = {"default": given.pop("stored_key")}
    log = functools.partial(print, flush=True)
    emulator = GatewayEmulator(**(env | {"google_keys": keys} | given), log=log)

    def ready() -> None:  # no token is printed: the client reads it, or the shell is asked for it
        origin, names = emulator.url, variables(GatewaySettings)
        with contextlib.suppress(ValueError):  # a wildcard address is none to connect to
            if ipaddress.ip_address(args.host.strip("[]")).is_unspecified:
                origin = f"http://{'[::1]' if ':' in args.host else '127.0.0.1'}:{emulator.port}"
        token = emulator.token and fingerprint(emulator.token)
        access = f"requires token {token}" if token else "open: no token required"
        print(f"# cfgenai gateway emulator on {emulator.url} ({access}); Ctrl-C stops it")
        logs = "  # for cfgenai log and feedback"
        for url, field, note in (("base_url", "token", ""), ("api_base_url", "api_token", logs)):
            where = getattr(emulator, url).replace(emulator.url, origin, 1)
            print(f"export {names[url][0]}={shlex.quote(where)}{note}")
            variable, required = names[field][0], getattr(emulator, field)
            hit = reading.find(names[field])
            if required is None:
                print(f"export {variable}={OPEN_GATEWAY_TOKEN}")
            elif hit and hit.value == required and hit.source != "environment":
                print(f"# {hit.name}: cfgenai reads it from the {hit.source}")
            else:
                why = f"set it to the token the emulator requires, {fingerprint(required)}"
                print(f'export {variable}="${{{variable}:?{why}}}"')
        print("export CF_AIG_MODE=byok  # the emulator adds its stored key", flush=True)

    why = {errno.EADDRINUSE: "is in use", errno.EACCES: "needs privileges"}
    try:
        emulator.serve_forever(on_ready=ready)
    except OSError as exc:
        if exc.errno not in (*why, errno.EADDRNOTAVAIL):
            raise
        taken = f"port {args.port} on {args.host} {why.get(exc.errno, 'is not available')}"
        fix = "choose another with --port, or --port 0 to pick a free one"
        raise Refused(EXIT_USAGE, f"{taken}; {fix}") from exc
    print("cfgenai gateway emulator stopped", flush=True)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter  # the exit codes end every help, as written
    shared: dict[str, Any] = {"epilog": _commands.EXIT_CODES, "formatter_class": raw}
    parser = argparse.ArgumentParser(prog="cfgenai", description=_ABOUT, **shared)
    parser.add_argument("--version", action="version", version=f"cfgenai {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for run in (_ask, _doctor, _log, _feedback, _env, _demo, _gateway):  # `--help` order
        name, doc = run.__name__.lstrip("_"), run.__doc__  # each command's docstring is its help
        commands.add_parser(name, help=doc, description=doc, **shared).set_defaults(run=run)
    subs = commands.choices
    ask, doctor, log, feedback, env, demo, gateway = (sub.add_argument for sub in subs.values())
    flag: dict[str, Any] = {"action": "store_true"}
    ask("prompt", help="the prompt; - reads it from stdin")
    ask("--model", help="model to ask (default: CF_AIG_MODEL, else gemini-2.5-flash)")
    ask("--no-stream", **flag, help="print the answer once it is complete")
    ask("--json", **flag, help="print the response and its gateway info (or the error) as JSON")
    doctor("--ping", **flag, help="also make the cheapest real request (one word's tokens)")
    doctor("--all", **flag, help="list every setting, those at their defaults too")
    doctor("--json", **flag, help="print the diagnosis (every setting) as JSON")
    for add in (log, feedback):
        add("log_id", metavar="LOG_ID", help="the log id the gateway gave the request")
    log("--json", **flag, help="print the entry as JSON")
    feedback("--score", type=_score, help="0 to 100")
    rating = subs["feedback"].add_mutually_exclusive_group()
    rating.add_argument("--good", **flag, help="feedback 1 (thumbs up)")
    rating.add_argument("--bad", **flag, help="feedback -1 (thumbs down)")
    env("--format", choices=["dotenv", "markdown"], default="dotenv", help="%(choices)s")
    demo("--model", default="gemini-2.5-flash", help="default: %(default)s")
    demo("--prompt", default="What is Cloudflare?", help="default: %(default)s")
    gateway("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    # Not wrangler's 8787 or 8788, nor a usual dev-server port, nor in /etc/services.
    gateway("--port", type=_port, default=6787, help="0 picks a free one (default: %(default)s)")
    gateway("--allow-remote", **flag, help="allow a --host that is not a loopback address")
    gateway("--token", help="the gateway token to require (default: CF_AIG_TOKEN; unset: none)")
    gateway("--google-key", action="append", dest="google_keys", help="a key to accept; repeat it")
    gateway("--stored-key", help="the BYOK key added to requests without one (default: built in)")
    gateway("--account-id", help="the only account id routed (default: CF_AIG_ACCOUNT_ID)")
    gateway("--gateway-id", help="the only gateway id routed (default: CF_AIG_GATEWAY_ID)")
    gateway("--cache-ttl", type=int, help="the gateway's own cache TTL in seconds (default: off)")
    gateway("--journal-size", type=_positive, default=10_000, help="requests kept (%(default)s)")
    gateway("--body-limit", type=_positive, default=2**25, help="bytes; more get 413 (%(default)s)")
    return parser
