"""The console and a bare Starlette endpoint in one process, under a chosen ASGI server.

The bare endpoint answers `GET /_bench/bare` with the bytes in the file named by
`BENCH_BARE_BODY` (read once, on first use), and `GET /_bench/bare-204` with an empty 204 (what an
unchanged status poll gets), so "console fragment ÷ bare" compares the same
bytes on the same server, loop, HTTP parser and process: only the console's work differs.
Everything else (lifespan included) goes to the console, built from the environment as
`runway-console serve` builds it.
Usage: python -m bench.asgi_host --server uvicorn-h11|uvicorn-uvloop|granian --port PORT
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

BARE_PATH = "/_bench/bare"
BARE_UNCHANGED_PATH = "/_bench/bare-204"
BARE_BODY_ENV = "BENCH_BARE_BODY"
# Each option is what a deployment would pick: the server's HTTP parser and event loop.
SERVERS = {
    "uvicorn-h11": "uvicorn, h11 parser, asyncio loop",
    "uvicorn-uvloop": "uvicorn, httptools parser, uvloop",
    "granian": "granian (Rust HTTP), 1 worker, uvloop",
}


def bare_app() -> Starlette:
    """One route, no middleware: what answering with these bytes costs on its own."""
    body: list[bytes] = []

    async def bare(request: Request) -> Response:
        if not body:
            body.append(Path(os.environ[BARE_BODY_ENV]).read_bytes())
        return Response(body[0], media_type="text/html")

    async def bare_unchanged(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(routes=[Route(BARE_PATH, bare), Route(BARE_UNCHANGED_PATH, bare_unchanged)])


def create_host() -> ASGIApp:
    """The console, with BARE_PATH dispatched to `bare_app` before any of the console's middleware."""
    from app.config import load_settings
    from app.main import create_app

    console = create_app(load_settings())
    bare = bare_app()

    async def host(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in (BARE_PATH, BARE_UNCHANGED_PATH):
            await bare(scope, receive, send)
        else:
            await console(scope, receive, send)

    return host


def serve(server: str, port: int) -> None:
    if server == "granian":
        from granian import Granian
        from granian.constants import Interfaces, Loops

        Granian(
            "bench.asgi_host:create_host",
            factory=True,
            address="127.0.0.1",
            port=port,
            interface=Interfaces.ASGI,
            workers=1,
            loop=Loops.uvloop,
            log_access=True,
        ).serve()
        return
    import uvicorn

    fast = server == "uvicorn-uvloop"
    # Access log on, as `runway-console serve` runs; granian's is switched on above to match.
    uvicorn.run(
        create_host(),
        host="127.0.0.1",
        port=port,
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
        log_level="info",
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.asgi_host")
    parser.add_argument("--server", choices=sorted(SERVERS), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.server, args.port)


if __name__ == "__main__":
    main()
