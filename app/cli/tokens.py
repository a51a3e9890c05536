"""`runway-console token add|list|remove`: the tokens of the console's Runway-compatible API.

A token is printed once when issued; only its hash is stored. Tokens named in CONSOLE_API_TOKENS are
listed too but cannot be removed here (they live in the environment).
"""

from __future__ import annotations

import argparse
import sys

from app.config import load_settings


def add_token_commands(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser("token", help="manage tokens for the console's Runway-compatible API")
    actions = token.add_subparsers(dest="token_command", required=True)
    add = actions.add_parser("add", help="issue a token under NAME; it is printed once, only its hash is kept")
    add.add_argument("name")
    actions.add_parser("list", help="list token names (never the tokens)")
    remove = actions.add_parser("remove", help="revoke the token issued under NAME")
    remove.add_argument("name")


def run_token_command(args: argparse.Namespace) -> int:
    from app.api_tokens import TokenRegistry, valid_token_name
    from app.storage import SqliteTaskStore, database_path

    settings = load_settings()
    store = SqliteTaskStore(database_path(settings.data_dir), busy_timeout=settings.db_busy_timeout)
    try:
        registry = TokenRegistry(store, settings.configured_api_tokens())
        if args.token_command == "list":
            for name, source in registry.names():
                where = "CONSOLE_API_TOKENS" if source == "env" else "token add"
                print(f"{name}\t({where})")
            return 0
        if args.token_command == "remove":
            if registry.remove(args.name):
                print(f"runway-console: removed the token {args.name!r}", file=sys.stderr)
                return 0
            print(f"runway-console: no stored token is named {args.name!r}", file=sys.stderr)
            return 1
        if not valid_token_name(args.name):
            print("runway-console: a token name is letters, digits, '.', '_' or '-' (at most 64)", file=sys.stderr)
            return 2
        try:
            token = registry.add(args.name)
        except KeyError:
            print(f"runway-console: a token named {args.name!r} already exists", file=sys.stderr)
            return 1
        print(token)
        print(
            f"runway-console: this is the token {args.name!r}; it is not stored and will not be shown again",
            file=sys.stderr,
        )
        return 0
    finally:
        store.close()
