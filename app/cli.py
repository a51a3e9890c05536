"""`runway-console [serve|simulator|catalogue|token|user]`: run the console, the simulator alone as a fake
Runway API, build a model catalogue, manage the tokens of the console's Runway-compatible API, or the
named accounts that may log in."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import logging
import re
import sys
import tempfile
from pathlib import Path

from app.catalogue import CatalogueError, load_catalogue
from app.config import ConfigError, Settings, load_settings

ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runway-console",
        description="Self-hosted web console for Runway-style image-to-video APIs.",
    )
    commands = parser.add_subparsers(dest="command")
    serve = commands.add_parser("serve", help="run the web console (the default)")
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--trusted-proxies",
        default=None,
        help="proxies whose X-Forwarded-For/-Proto/-Host are believed, comma-separated addresses or CIDRs "
        "(default: CONSOLE_TRUSTED_PROXIES, itself loopback by default)",
    )
    simulator = commands.add_parser("simulator", help="run only the simulated upstream API")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8100)
    simulator.add_argument("--data-dir", type=Path, default=None, help="where rendered videos go (default: a temp dir)")
    _add_catalogue_commands(commands)
    _add_token_commands(commands)
    _add_user_commands(commands)
    return parser


def _add_token_commands(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser("token", help="manage tokens for the console's Runway-compatible API")
    actions = token.add_subparsers(dest="token_command", required=True)
    add = actions.add_parser("add", help="issue a token under NAME; it is printed once, only its hash is kept")
    add.add_argument("name")
    actions.add_parser("list", help="list token names (never the tokens)")
    remove = actions.add_parser("remove", help="revoke the token issued under NAME")
    remove.add_argument("name")


def _add_user_commands(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="manage the named accounts that may log in (kept in the data dir)")
    actions = user.add_subparsers(dest="user_command", required=True)
    add = actions.add_parser("add", help="add an account; asks for its password (or reads it from stdin)")
    add.add_argument("name")
    passwd = actions.add_parser("passwd", help="set an account's password and log it out everywhere")
    passwd.add_argument("name")
    remove = actions.add_parser("remove", help="remove an account and end its sessions")
    remove.add_argument("name")
    actions.add_parser("list", help="list the accounts")


def _add_catalogue_commands(commands: argparse._SubParsersAction) -> None:
    catalogue = commands.add_parser("catalogue", help="build a model catalogue")
    actions = catalogue.add_subparsers(dest="catalogue_command", required=True)
    from_sdk = actions.add_parser(
        "from-sdk",
        help="a catalogue of the official API's image_to_video models, read from the installed runwayml SDK",
    )
    from_sdk.add_argument("--output", type=Path, default=None, help="write it to FILE (atomically) instead of stdout")
    from_sdk.add_argument(
        "--facts",
        type=Path,
        default=None,
        help="prices and durations the SDK lacks (default: the packaged catalogue_facts.json)",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "simulator":
            return _run_simulator(args)
        if args.command == "catalogue":
            return _run_catalogue_from_sdk(args)
        if args.command == "token":
            return _run_token(args)
        if args.command == "user":
            return _run_user_command(args)
        return _run_console(args)
    except (ConfigError, CatalogueError) as exc:
        print(f"runway-console: configuration error: {exc}", file=sys.stderr)
        return 2


def _run_console(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    overrides = {}
    if getattr(args, "trusted_proxies", None) is not None:
        overrides["CONSOLE_TRUSTED_PROXIES"] = args.trusted_proxies
    settings = load_settings(**overrides)
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8000)
    refusal = open_to_anyone(settings, host)
    if refusal:
        print(f"runway-console: {refusal}", file=sys.stderr)
        return 2
    app = create_app(settings)
    upstream = settings.base_url or "built-in simulator"
    print(f"runway-console: http://{host}:{port}{settings.root_path}/  (upstream: {upstream})", file=sys.stderr)
    # X-Forwarded-* are read by app/client.py, from CONSOLE_TRUSTED_PROXIES only; uvicorn's own
    # handling would believe them from its own (different) list.
    # httptools and uvloop (dependencies, chosen by measurement: README "Performance"); uvicorn keeps
    # the app in this one process, which the poller and the crash-safety guarantees assume.
    uvicorn.run(app, host=host, port=port, proxy_headers=False, log_level="info", loop="uvloop", http="httptools")
    return 0


def is_loopback_host(host: str) -> bool:
    """Whether binding to `host` keeps the console on this machine."""
    if host.lower().rstrip(".") in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve to anything: treat as public


# What turns a guard on, each as the operator would write it.
LOGIN_SETTINGS = ("CONSOLE_PASSWORD", "`runway-console user add NAME`", "CONSOLE_VISITOR_KEYS=true")


def open_to_anyone(settings: Settings, host: str) -> str | None:
    """Why the console must not start: bound beyond loopback, spending the server's key, with no login.

    None when it may start. One line, naming every setting that fixes it. Visitor-keys mode is a guard:
    every visitor spends their own key, and a server key is refused there unless API tokens, which
    authenticate each call, are what it is for (app/config.py).
    """
    if settings.allow_open or is_loopback_host(host) or not settings.has_server_key or settings.team_passwords:
        return None
    if settings.visitor_keys:
        return None
    from app.auth_store import SqliteAuthStore
    from app.storage import database_path

    store = SqliteAuthStore(database_path(settings.data_dir))
    try:
        if store.has_accounts():
            return None
    finally:
        store.close()
    fixes = ", ".join(LOGIN_SETTINGS)
    return (
        f"refusing to serve on {host} (not loopback) with the server's upstream key and no login: anyone who "
        f"reaches the port could spend the key. Set {fixes}, or CONSOLE_ALLOW_OPEN=true to allow it anyway "
        "(the Docker image listens on 0.0.0.0, so it needs one of these too)"
    )


def _run_user_command(args: argparse.Namespace) -> int:
    from app.auth_store import SqliteAuthStore
    from app.passwords import MIN_ACCOUNT_PASSWORD_CHARS, hash_password
    from app.storage import database_path

    settings = load_settings()
    store = SqliteAuthStore(database_path(settings.data_dir))
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
            if not store.add_account(name, hash_password(password)):
                print(
                    f"runway-console: {name!r} exists already (change its password with `user passwd`)", file=sys.stderr
                )
                return 1
            print(f"runway-console: added {name}", file=sys.stderr)
            return 0
        if not store.set_password(name, hash_password(password)):
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


def _run_simulator(args: argparse.Namespace) -> int:
    import uvicorn

    from app.simulator import create_simulator_app

    settings = load_settings()
    catalogue = load_catalogue(settings.catalogue_file)
    with tempfile.TemporaryDirectory(prefix="runway-sim-") as scratch:
        workdir = args.data_dir or Path(scratch)
        app = create_simulator_app(catalogue, settings.simulator, workdir)
        print(
            f"runway-console simulator: base URL http://{args.host}:{args.port}  "
            "(any Bearer key unless SIMULATOR_API_SECRET is set)",
            file=sys.stderr,
        )
        uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _run_catalogue_from_sdk(args: argparse.Namespace) -> int:
    from app.catalogue_sdk import SdkUnavailable, generate_catalogue, load_facts
    from app.files import write_atomically

    try:
        generated = generate_catalogue(load_facts(args.facts))
    except SdkUnavailable as exc:
        print(f"runway-console: {exc}", file=sys.stderr)
        return 2
    for model, reason in generated.skipped:
        print(f"runway-console: left out {model}: {reason}", file=sys.stderr)
    text = generated.to_json()
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomically(args.output, text.encode("utf-8"))
        models = len(generated.catalogue.models)
        print(
            f"runway-console: wrote {models} models from runwayml {generated.sdk_version} to {args.output}",
            file=sys.stderr,
        )
    return 0


def _run_token(args: argparse.Namespace) -> int:
    from app.api_tokens import TokenRegistry, valid_token_name
    from app.storage import SqliteTaskStore

    settings = load_settings()
    store = SqliteTaskStore(settings.data_dir / "console.db")
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


if __name__ == "__main__":
    raise SystemExit(main())
