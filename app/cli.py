"""`runway-console [serve|simulator|catalogue|token]`: run the console, the simulator alone as a fake Runway
API, build a model catalogue, or manage the tokens of the console's Runway-compatible API."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from app.catalogue import CatalogueError, load_catalogue
from app.config import ConfigError, load_settings


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
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies trusted for X-Forwarded-* headers (default 127.0.0.1; '*' behind a private proxy)",
    )
    simulator = commands.add_parser("simulator", help="run only the simulated upstream API")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8100)
    simulator.add_argument("--data-dir", type=Path, default=None, help="where rendered videos go (default: a temp dir)")
    _add_catalogue_commands(commands)
    _add_token_commands(commands)
    return parser


def _add_token_commands(commands: argparse._SubParsersAction) -> None:
    token = commands.add_parser("token", help="manage tokens for the console's Runway-compatible API")
    actions = token.add_subparsers(dest="token_command", required=True)
    add = actions.add_parser("add", help="issue a token under NAME; it is printed once, only its hash is kept")
    add.add_argument("name")
    actions.add_parser("list", help="list token names (never the tokens)")
    remove = actions.add_parser("remove", help="revoke the token issued under NAME")
    remove.add_argument("name")


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
        return _run_console(args)
    except (ConfigError, CatalogueError) as exc:
        print(f"runway-console: configuration error: {exc}", file=sys.stderr)
        return 2


def _run_console(args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    settings = load_settings()
    app = create_app(settings)
    host = getattr(args, "host", "127.0.0.1")
    port = getattr(args, "port", 8000)
    upstream = settings.base_url or "built-in simulator"
    print(f"runway-console: http://{host}:{port}{settings.root_path}/  (upstream: {upstream})", file=sys.stderr)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=getattr(args, "forwarded_allow_ips", "127.0.0.1"),
        log_level="info",
    )
    return 0


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
