"""The ``cfgenai`` command: ``cfgenai demo`` shows both auth modes on the gateway emulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__
from ._errors import ConfigError

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
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
        "--prompt", default="What is Cloudflare?", help="prompt to send (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        from ._demo import run_demo

        run_demo(model=args.model, prompt=args.prompt)
    except ConfigError as exc:
        print(f"cfgenai: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except ImportError as exc:
        print(f"cfgenai: {exc}", file=sys.stderr)
        return 1
    return 0
