"""The ``cfgenai`` command: ``demo`` and ``gateway`` (the emulator as a standalone server)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dotenv import dotenv_values

from . import __version__
from ._errors import ConfigError
from ._secrets import fingerprint
from ._settings import env_file_from_environment, is_loopback

EXIT_CONFIG = 2
# Accepted by the standalone emulator when no stored key is configured, so byok works at once.
DEFAULT_STORED_KEY = "cfgenai-emulator-stored-key"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            run_demo(model=args.model, prompt=args.prompt)
            return 0
        return _gateway(args)
    except ConfigError as exc:
        print(f"cfgenai: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ImportError as exc:
        print(f"cfgenai: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cfgenai",
        description="google-genai through Cloudflare AI Gateway, configured from the environment.",
    )
    parser.add_argument("--version", action="version", version=f"cfgenai {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run both auth modes against a local gateway emulator (no credentials, no network)",
        description="Start the gateway emulator on 127.0.0.1, send a normal and a streaming "
        "request in key mode and in byok mode through build_client(), and print what the "
        "gateway received (secrets masked) and answered.",
    )
    demo.add_argument(
        "--model", default="gemini-2.5-flash", help="model name (default: %(default)s)"
    )
    demo.add_argument(
        "--prompt", default="What is Cloudflare?", help="prompt (default: %(default)s)"
    )

    gateway = commands.add_parser(
        "gateway",
        help="run the gateway emulator in the foreground, for any HTTP client",
        description="Serve the Cloudflare AI Gateway emulator until Ctrl-C or SIGTERM. By "
        "default it takes its settings from the variables a client reads (and the .env file): "
        "CF_AIG_TOKEN is the token it requires, GOOGLE_API_KEY/GEMINI_API_KEY the keys it "
        "accepts (any key when unset), CF_AIG_ACCOUNT_ID/CF_AIG_GATEWAY_ID the ids it routes "
        "(any when unset). Options override each. One line is logged per request, secrets "
        "masked.",
    )
    gateway.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    gateway.add_argument(
        "--port", type=int, default=8787, help="port; 0 picks a free one (default: %(default)s)"
    )
    gateway.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not a loopback address (the emulator has no real security)",
    )
    gateway.add_argument(
        "--token", help="gateway token to require (default: CF_AIG_TOKEN; none: open gateway)"
    )
    gateway.add_argument(
        "--google-key",
        action="append",
        dest="google_keys",
        metavar="KEY",
        help="a Google key to accept; repeat for more (default: GOOGLE_API_KEY, GEMINI_API_KEY; any when unset)",
    )
    gateway.add_argument(
        "--stored-key",
        default=DEFAULT_STORED_KEY,
        help="the BYOK key the gateway adds when a request has none (default: a built-in one)",
    )
    gateway.add_argument(
        "--account-id", help="the only account id routed (default: CF_AIG_ACCOUNT_ID; any)"
    )
    gateway.add_argument(
        "--gateway-id", help="the only gateway id routed (default: CF_AIG_GATEWAY_ID; any)"
    )
    gateway.add_argument(
        "--cache-ttl", type=int, help="the gateway's own cache TTL in seconds (default: off)"
    )
    return parser


def _gateway(args: argparse.Namespace) -> int:
    from .testing import GatewayEmulator

    if not args.allow_remote and not is_loopback(args.host):
        print(
            f"cfgenai: refusing to listen on {args.host}, which is not a loopback address; "
            "pass --allow-remote if you mean it",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    env = _environment()
    keys = args.google_keys or [
        k for k in (env.get("GOOGLE_API_KEY"), env.get("GEMINI_API_KEY")) if k
    ]
    emulator = GatewayEmulator(
        token=args.token if args.token is not None else env.get("CF_AIG_TOKEN"),
        google_keys=keys or None,
        stored_keys={"default": args.stored_key},
        account_id=args.account_id or env.get("CF_AIG_ACCOUNT_ID"),
        gateway_id=args.gateway_id or env.get("CF_AIG_GATEWAY_ID"),
        cache_ttl=args.cache_ttl,
        log=lambda line: print(line, flush=True),
        host=args.host,
        port=args.port,
    )

    def ready() -> None:
        token = (
            f"requires token {fingerprint(emulator.token)}"
            if emulator.token
            else "open: no token required"
        )
        print(f"cfgenai gateway emulator on {emulator.url} ({token}); Ctrl-C stops it", flush=True)
        print(f"export CF_AIG_BASE_URL={emulator.base_url}", flush=True)

    emulator.serve_forever(on_ready=ready)
    print("cfgenai gateway emulator stopped", flush=True)
    return 0


def _environment() -> dict[str, str]:
    """The process environment over the .env file (CF_AIG_ENV_FILE), as a client reads them."""
    path, problems = env_file_from_environment()
    if problems:
        raise ConfigError(problems)
    values = {k: v for k, v in dotenv_values(path).items() if v} if path and path.is_file() else {}
    values.update({k: v for k, v in os.environ.items() if v})
    return {k: v.strip() for k, v in values.items()}
