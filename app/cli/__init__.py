"""`runway-console [serve|simulator|catalogue|token|user]`: run the console, the simulator alone as a fake
Runway API, build a model catalogue, manage the tokens of the console's Runway-compatible API, or the
named accounts that may log in. One module here per command; each imports what it needs only when run."""

from __future__ import annotations

import argparse
import logging
import sys

from app.catalogue import CatalogueError
from app.cli.catalogue import add_catalogue_commands, run_catalogue_from_sdk
from app.cli.serve import add_serve_commands, run_console, run_simulator
from app.cli.tokens import add_token_commands, run_token_command
from app.cli.users import add_user_commands, run_user_command
from app.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runway-console",
        description="Self-hosted web console for Runway-style image-to-video APIs.",
    )
    commands = parser.add_subparsers(dest="command")
    add_serve_commands(commands)
    add_catalogue_commands(commands)
    add_token_commands(commands)
    add_user_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "simulator":
            return run_simulator(args)
        if args.command == "catalogue":
            return run_catalogue_from_sdk(args)
        if args.command == "token":
            return run_token_command(args)
        if args.command == "user":
            return run_user_command(args)
        return run_console(args)
    except (ConfigError, CatalogueError) as exc:
        print(f"runway-console: configuration error: {exc}", file=sys.stderr)
        return 2
