"""A bare Starlette FileResponse for one file: the baseline the console's video route is compared with.

Same server (uvicorn, access log on, as `runway-console serve` runs) and the same file, but no
routing to a task, no database lookup and no middleware.
Usage: python -m bench.bare_server --file PATH --port PORT
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route


def create_app(path: str) -> Starlette:
    async def video(request: Request) -> Response:
        return FileResponse(path, media_type="video/mp4")

    async def index(request: Request) -> Response:
        return Response("bare file server")

    return Starlette(routes=[Route("/", index), Route("/video.mp4", video)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_server")
    parser.add_argument("--file", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.file), host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
