"""The simulator's HTTP layer: Runway's routes, bodies and error shapes over the `Simulator`.

Each endpoint finds the simulator on `request.app.state.simulator`.
"""

from __future__ import annotations

import hmac
import json
import math
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from app.simulator.tasks import NotEnoughCredits, Simulator, SimulatorClosed
from app.simulator.triggers import NOT_ENOUGH_CREDITS, TRIGGERS
from app.simulator.validation import ValidationFailed, validate

DOC_URL = "https://docs.dev.runwayml.com/api"
# Two 5 MB data URIs plus the other fields, with room to spare; anything larger is abuse.
BODY_MAX_BYTES = 16 * 1024 * 1024
TASK_ID_LENGTH = 36


class ApiJSON(JSONResponse):
    """JSON that is always valid UTF-8: messages can echo a lone surrogate from a client's body."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _simulator(request: Request) -> Simulator:
    simulator: Simulator = request.app.state.simulator
    return simulator


def _error(status: int, message: str) -> ApiJSON:
    return ApiJSON({"error": message}, status_code=status)


def _validation_error(issues: list[dict[str, Any]]) -> ApiJSON:
    return ApiJSON({"error": "Validation of body failed", "issues": issues, "docUrl": DOC_URL}, status_code=400)


def _cdn_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n'
    return Response(body, status_code=status, media_type="application/xml")


def _refusal(request: Request) -> ApiJSON | None:
    """A 401 when the Authorization header is missing or, with a secret set, wrong."""
    scheme, _, key = (request.headers.get("authorization") or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return _error(401, "Missing API key: send Authorization: Bearer <key>")
    secret = _simulator(request).settings.api_secret
    # Starlette decodes headers as latin-1; re-encoding gives back the bytes sent.
    sent = key.encode("latin-1", "replace")
    if secret is not None and not hmac.compare_digest(sent, secret.get_secret_value().encode("utf-8")):
        return _error(401, "Invalid API key")
    return None


def _public_base(request: Request) -> str:
    """This app's own base URL, ending in '/'.

    Built from root_path rather than request.base_url: inside a Mount, base_url names the
    outermost app, and output links must point at this one.
    """
    root = request.scope.get("root_path", "").rstrip("/")
    return str(request.url.replace(path=f"{root}/", query="", fragment=""))


def _is_task_id(value: str) -> bool:
    if len(value) != TASK_ID_LENGTH:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def _read_json(request: Request) -> object:
    """The body as JSON; raises ValueError for anything unreadable, OverflowError if too big."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX_BYTES:
        raise OverflowError
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > BODY_MAX_BYTES:
            raise OverflowError
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad syntax and integers too long for Python to parse.
        raise ValueError from None


async def describe_service(request: Request) -> Response:
    """Say what this is, so nobody mistakes it for the real upstream."""
    return ApiJSON(
        {
            "service": "runway-console simulator",
            "simulated": True,
            "description": "A stand-in for the Runway image-to-video API; videos are "
            "crossfades or zooms of the input frames, not generated.",
            "endpoints": ["POST /v1/image_to_video", "GET /v1/tasks/{id}", "DELETE /v1/tasks/{id}"],
            "models": [model.id for model in _simulator(request).catalogue.models],
            "triggers": [trigger.word for trigger in TRIGGERS],
        }
    )


async def create_task(request: Request) -> Response:
    """Validate an image-to-video request and queue a task for it."""
    if (refusal := _refusal(request)) is not None:
        return refusal
    simulator = _simulator(request)
    try:
        body = await _read_json(request)
    except OverflowError:
        return _error(413, "Request body is too large")
    except ValueError:
        return _validation_error([{"path": [], "message": simulator.translate("errors.body_not_json")}])
    try:
        task_request = await run_in_threadpool(
            validate, body, simulator.catalogue, simulator.translate, simulator.settings.video_max_side
        )
        task_id, credits = simulator.create(task_request)
    except ValidationFailed as exc:
        return _validation_error(exc.issues)
    except NotEnoughCredits:
        return _error(400, NOT_ENOUGH_CREDITS)
    except SimulatorClosed:
        return _error(503, "The simulator is shutting down")
    answer: dict[str, Any] = {"id": task_id}
    if credits is not None and math.isfinite(credits):
        answer["estimatedCost"] = {"credits": int(credits) if float(credits).is_integer() else credits}
    return ApiJSON(answer)


async def get_task(request: Request) -> Response:
    """Show a task's current status, advancing the simulation to now first."""
    if (refusal := _refusal(request)) is not None:
        return refusal
    task = _simulator(request).get(request.path_params["task_id"], _public_base(request))
    return ApiJSON(task) if task is not None else _error(404, "Task not found")


async def delete_task(request: Request) -> Response:
    """Cancel a task that is still going, or delete one that has finished."""
    if (refusal := _refusal(request)) is not None:
        return refusal
    if not _simulator(request).cancel_or_delete(request.path_params["task_id"]):
        return _error(404, "Task not found")
    return Response(status_code=204)


async def download_output(request: Request) -> Response:
    """Serve a rendered video to anyone holding a valid, unexpired signed URL."""
    simulator = _simulator(request)
    name: str = request.path_params["name"]
    task_id = name.removesuffix(".mp4")
    if not name.endswith(".mp4") or not _is_task_id(task_id):
        return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
    denied = simulator.signer.refusal(name, request.query_params.get("exp", ""), request.query_params.get("sig", ""))
    if denied is not None:
        return _cdn_error(403, "AccessDenied", denied)
    path = await run_in_threadpool(simulator.output_file, task_id)
    if path is None:
        return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
    return FileResponse(path, media_type="video/mp4")


async def answer_http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer in the API's JSON error shape."""
    assert isinstance(exc, HTTPException)
    return ApiJSON({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def answer_crash(request: Request, exc: Exception) -> Response:
    """A bug must still answer JSON, never a bare traceback page."""
    return _error(500, "Internal simulator error")


ROUTES = [
    Route("/", describe_service, methods=["GET"]),
    Route("/v1/image_to_video", create_task, methods=["POST"]),
    Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/v1/tasks/{task_id}", delete_task, methods=["DELETE"]),
    Route("/outputs/{name}", download_output, methods=["GET"]),
]
EXCEPTION_HANDLERS = {HTTPException: answer_http_error, Exception: answer_crash}
