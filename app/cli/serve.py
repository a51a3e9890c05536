"""`runway-console serve` and `runway-console simulator`: run the console, or the simulator alone.

The console refuses to start where anyone could spend the server's upstream key: bound beyond
loopback with no login of any kind (open_to_anyone).
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
from pathlib import Path

from app.catalogue import load_catalogue
from app.config import Settings, load_settings

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
# What turns a guard on, each as the operator would write it.
LOGIN_SETTINGS = ("CONSOLE_PASSWORD", "`runway-console user add NAME`", "CONSOLE_VISITOR_KEYS=true")


def add_serve_commands(commands: argparse._SubParsersAction) -> None:
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


def run_console(args: argparse.Namespace) -> int:
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

    store = SqliteAuthStore(database_path(settings.data_dir), busy_timeout=settings.db_busy_timeout)
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


def run_simulator(args: argparse.Namespace) -> int:
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
