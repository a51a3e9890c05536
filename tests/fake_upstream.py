"""A programmable stand-in for the upstream API: a real Starlette app that records every request.

By default it behaves: POST creates a task, each GET moves it one step (PENDING → RUNNING →
SUCCEEDED with an output URL on its own fake CDN), DELETE cancels. Tests queue misbehaviour
for the next call of a route (status codes, HTML pages, hangs, broken JSON) with `queue()`.

It can also turn hostile: name outputs somewhere else (`output_base`, e.g. another loopback
server the console must never reach), serve HTML or an oversize file as the video (`video`),
stream it with no Content-Length (`stream_video`), or redirect its CDN (`queue("cdn", status=302…)`).
"""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route

STEPS = ("PENDING", "RUNNING", "SUCCEEDED")


def mp4_box(kind: bytes, payload: bytes) -> bytes:
    """One ISO-BMFF box: 32-bit size, four-letter type, payload."""
    return struct.pack(">I", 8 + len(payload)) + kind + payload


# A few kilobytes are enough: the console checks the box structure (ftyp first, moov and mdat,
# sizes adding up to the file) and then stores and serves what the CDN sent.
FAKE_MP4 = (
    mp4_box(b"ftyp", b"mp42\x00\x00\x00\x00mp42isom")
    + mp4_box(b"moov", b"\x00" * 96)
    + mp4_box(b"mdat", bytes(range(256)) * 8)
)


def task_not_found() -> JSONResponse:
    return JSONResponse({"error": "Task not found"}, status_code=404)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Misbehaviour:
    status: int = 500
    body: str | bytes = ""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float = 0.0


class FakeUpstream:
    def __init__(self, prefix: str = "/runwayml") -> None:
        self.prefix = prefix
        self.requests: list[Recorded] = []
        self.tasks: dict[str, dict] = {}
        self.queued: dict[str, list[Misbehaviour]] = {"create": [], "get": [], "delete": [], "cdn": []}
        self.auto_advance = True
        self.final_status: dict[str, dict] = {}
        self.cdn_expired = False
        self.video = FAKE_MP4
        self.stream_video = False  # send the video in chunks with no Content-Length
        self.base_url = ""  # set once the server runs, for output URLs
        # GET /v1/organization answers this document; None: 404, as on most relays. Its calls are
        # counted apart from `requests`, which tests read as "what was sent about tasks".
        self.organization: dict | None = None
        self.organization_calls = 0
        self.output_base: str | None = None  # where output URLs point instead of the fake CDN
        # When set, only these bearer keys are accepted (401 otherwise), as a real upstream checks them.
        self.accepted_keys: set[str] | None = None
        api = [
            Route("/v1/image_to_video", self.create, methods=["POST"]),
            Route("/v1/tasks/{task_id}", self.get, methods=["GET"]),
            Route("/v1/tasks/{task_id}", self.delete, methods=["DELETE"]),
            Route("/v1/organization", self.show_organization, methods=["GET"]),
        ]
        self.app = Starlette(routes=[Mount(prefix, routes=api), Route("/cdn/{name}", self.cdn)])

    @property
    def api_url(self) -> str:
        """The base URL a console is given (the API lives under a path, as on relays)."""
        return f"{self.base_url}{self.prefix}"

    def queue(self, route: str, **misbehaviour: object) -> None:
        """Make the next call of `route` (create, get, delete, cdn) misbehave once."""
        self.queued[route].append(Misbehaviour(**misbehaviour))

    def calls(self, method: str, path_part: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and path_part in r.path]

    async def _record(self, request: Request) -> Recorded:
        recorded = Recorded(request.method, request.url.path, dict(request.headers), await request.body())
        self.requests.append(recorded)
        return recorded

    def _refuse_key(self, request: Request) -> Response | None:
        if self.accepted_keys is None:
            return None
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer" and key in self.accepted_keys:
            return None
        return JSONResponse({"error": "Invalid API key"}, status_code=401)

    def keys_used(self, path_part: str = "") -> list[str]:
        """The bearer key of each recorded API request (not CDN fetches) whose path contains `path_part`."""
        return [
            r.headers.get("authorization", "").removeprefix("Bearer ")
            for r in self.requests
            if path_part in r.path and "/cdn/" not in r.path
        ]

    async def _misbehave(self, route: str) -> Response | None:
        if not self.queued[route]:
            return None
        bad = self.queued[route].pop(0)
        if bad.hang_seconds:
            await asyncio.sleep(bad.hang_seconds)
        return Response(bad.body, status_code=bad.status, media_type=bad.content_type, headers=bad.headers)

    async def _answer_early(self, request: Request, route: str) -> Response | None:
        """Record an API call; the answer when its key is refused or a misbehaviour is queued for `route`."""
        await self._record(request)
        if (refused := self._refuse_key(request)) is not None:
            return refused
        return await self._misbehave(route)

    def _task(self, request: Request) -> dict | None:
        return self.tasks.get(request.path_params["task_id"])

    async def create(self, request: Request) -> Response:
        if (early := await self._answer_early(request, "create")) is not None:
            return early
        task_id = str(uuid.uuid4())
        self.tasks[task_id] = {"id": task_id, "status": "PENDING", "createdAt": "2026-11-24T10:00:00.000Z"}
        return JSONResponse({"id": task_id})

    async def get(self, request: Request) -> Response:
        if (early := await self._answer_early(request, "get")) is not None:
            return early
        if (task := self._task(request)) is None:
            return task_not_found()
        if self.auto_advance and task["status"] in STEPS[:-1]:
            self._advance(task)
        return JSONResponse(task)

    def _advance(self, task: dict) -> None:
        next_status = STEPS[STEPS.index(task["status"]) + 1]
        task["status"] = next_status
        if next_status == "RUNNING":
            task["progress"] = 0.5
        if next_status == "SUCCEEDED":
            task.pop("progress", None)
            final = self.final_status.get(task["id"])
            if final:
                task.update(final)
            else:
                task["output"] = [self.output_url(task["id"])]

    def output_url(self, task_id: str) -> str:
        return f"{self.output_base or self.base_url}/cdn/{task_id}.mp4?_jwt=signed"

    async def delete(self, request: Request) -> Response:
        if (early := await self._answer_early(request, "delete")) is not None:
            return early
        if (task := self._task(request)) is None:
            return task_not_found()
        if task["status"] in ("PENDING", "THROTTLED", "RUNNING"):
            task["status"] = "CANCELLED"
            task.pop("progress", None)
        else:
            del self.tasks[task["id"]]
        return Response(status_code=204)

    async def show_organization(self, request: Request) -> Response:
        self.organization_calls += 1
        if (refused := self._refuse_key(request)) is not None:
            return refused
        if self.organization is None:
            return JSONResponse({"error": "Not found"}, status_code=404)
        return JSONResponse(self.organization)

    async def cdn(self, request: Request) -> Response:
        await self._record(request)
        if (bad := await self._misbehave("cdn")) is not None:
            return bad
        if self.cdn_expired:
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403, media_type="text/xml")
        if self.stream_video:
            video = self.video

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(video), 64 * 1024):
                    yield video[start : start + 64 * 1024]

            return StreamingResponse(chunks(), media_type="video/mp4")
        return Response(self.video, media_type="video/mp4")


def started(serve: Callable, prefix: str = "/runwayml", wrap: Callable = lambda app: app) -> FakeUpstream:
    """Run a FakeUpstream on loopback (its ASGI app passed through `wrap` first)."""
    fake = FakeUpstream(prefix)
    server = serve(wrap(fake.app))
    fake.base_url = server.url
    return fake
