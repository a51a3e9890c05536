"""`runway-console user add|passwd|remove|list`: the named accounts that may log in, kept in the data dir.

A running console sees a change at once: the guard reads the accounts on each request, and changing a
password or removing an account ends its sessions everywhere.
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys

from app.config import load_settings

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def add_user_commands(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="manage the named accounts that may log in (kept in the data dir)")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="add an account; asks for its password (or reads it from stdin)")
    add.add_argument("name")
    passwd = actions.add_parser("passwd", help="set an account's password and log it out everywhere")
    passwd.add_argument("name")
    remove = actions.add_parser("remove", help="remove an account and end its sessions")
    remove.add_argument("name")
    actions.add_parser("list", help="list the accounts")


def run_user_command(args: argparse.Namespace) -> int:
    from app.auth_store import SqliteAuthStore
    from app.passwords import ACCOUNT_PASSWORDS, MIN_ACCOUNT_PASSWORD_CHARS
    from app.storage import database_path

    settings = load_settings()
    store = SqliteAuthStore(database_path(settings.data_dir), busy_timeout=settings.db_busy_timeout)
    try:
        if args.user_command == "list":
            for account in store.accounts():
                print(account.name)
            return 0
        name = args.name
        if args.user_command == "remove":
            if not store.remove_account(name):
                print(f"runway-console: no account named {name!r}", file=sys.stderr)
                return 1
            print(f"runway-console: removed {name} and ended its sessions", file=sys.stderr)
            return 0
        if not ACCOUNT_NAME.match(name):
            print(
                "runway-console: an account name is 1 to 64 letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit",
                file=sys.stderr,
            )
            return 2
        password = _read_password()
        if len(password) < MIN_ACCOUNT_PASSWORD_CHARS:
            print(
                f"runway-console: the password must have at least {MIN_ACCOUNT_PASSWORD_CHARS} characters",
                file=sys.stderr,
            )
            return 2
        if args.user_command == "add":
            if not store.add_account(name, ACCOUNT_PASSWORDS.hash(password)):
                print(
                    f"runway-console: {name!r} exists already (change its password with `user passwd`)", file=sys.stderr
                )
                return 1
            print(f"runway-console: added {name}", file=sys.stderr)
            return 0
        if not store.set_password(name, ACCOUNT_PASSWORDS.hash(password)):
            print(f"runway-console: no account named {name!r}", file=sys.stderr)
            return 1
        print(f"runway-console: changed the password of {name} and ended its sessions", file=sys.stderr)
        return 0
    finally:
        store.close()


def _read_password() -> str:
    """Ask twice on a terminal; otherwise read the first line of stdin (for scripts)."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            print("runway-console: the two passwords differ", file=sys.stderr)
            raise SystemExit(2)
        return first
    return sys.stdin.readline().rstrip("\r\n")
