"""The simulator's API face: Runway's JSON endpoints, bodies and error shapes over the `Simulator`.

Each endpoint finds the simulator on `request.app.state.simulator`. Every route is served at the
root (`/v1/…`, as the official API) and under `/runwayml` (`/runwayml/v1/…`, as a relay), so a
client's base URL may be either. API calls need `Authorization` and, at the root,
`X-Runway-Version` naming a known version; under `/runwayml` the header may be left out, as the
relay's own examples do (the relay supplies it upstream), but an unknown version is refused there too.
"""

from __future__ import annotations

import hmac
import json
import math
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.api_messages import (
    DAILY_LIMIT,
    DOC_URL,
    NOT_ENOUGH_CREDITS,
    VALIDATION_FAILED,
    VERSION_HEADER,
    issue_message,
    version_problem,
)
from app.simulator.account import DailyLimitReached, NotEnoughCredits
from app.simulator.tasks import Simulator, SimulatorClosed
from app.simulator.triggers import TRIGGERS
from app.simulator.uploads import FILENAME_MAX_CHARS, TooManyUploads
from app.simulator.validation import ValidationFailed, validate

# Two 5 MB data URIs plus the other fields, with room to spare; anything larger is abuse.
BODY_MAX_BYTES = 16 * 1024 * 1024
RELAY_PREFIX = "/runwayml"


class ApiJSON(JSONResponse):
    """JSON that is always valid UTF-8: messages can echo a lone surrogate from a client's body."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def simulator_for(request: Request) -> Simulator:
    """The simulator the app serving this request was built on."""
    simulator: Simulator = request.app.state.simulator
    return simulator


def _error(status: int, message: str) -> ApiJSON:
    return ApiJSON({"error": message}, status_code=status)


def _validation_error(issues: list[dict[str, Any]]) -> ApiJSON:
    return ApiJSON({"error": VALIDATION_FAILED, "issues": issues, "docUrl": DOC_URL}, status_code=400)


def _refusal(request: Request) -> ApiJSON | None:
    """A 401 when the Authorization header is missing or, with a secret set, wrong."""
    scheme, _, key = (request.headers.get("authorization") or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        return _error(401, "Missing API key: send Authorization: Bearer <key>")
    secret = simulator_for(request).settings.api_secret
    # Starlette decodes headers as latin-1; re-encoding gives back the bytes sent.
    sent = key.encode("latin-1", "replace")
    if secret is not None and not hmac.compare_digest(sent, secret.get_secret_value().encode("utf-8")):
        return _error(401, "Invalid API key")
    return None


def _api_refusal(request: Request) -> ApiJSON | None:
    """A 401 for a missing or wrong key, else a 400 for a missing or unknown X-Runway-Version."""
    if (refusal := _refusal(request)) is not None:
        return refusal
    version = request.headers.get(VERSION_HEADER)
    if version is None and request.scope.get("root_path", "").endswith(RELAY_PREFIX):
        return None
    problem = version_problem(version)
    return _error(400, problem) if problem is not None else None


def _public_base(request: Request) -> str:
    """This app's own base URL, ending in '/'.

    Built from root_path rather than request.base_url: inside a Mount, base_url names the
    outermost app, and output links must point at this one.
    """
    root = request.scope.get("root_path", "").rstrip("/")
    return str(request.url.replace(path=f"{root}/", query="", fragment=""))


async def _json_body(request: Request) -> object:
    """The body as JSON, or the API's answer (a `Response`) to a body too big or not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX_BYTES:
        return _error(413, "Request body is too large")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > BODY_MAX_BYTES:
            return _error(413, "Request body is too large")
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad syntax and integers too long for Python to parse.
        return _validation_error([{"path": [], "message": issue_message("body_not_json")}])


async def describe_service(request: Request) -> Response:
    """Say what this is, so nobody mistakes it for the real upstream."""
    return ApiJSON(
        {
            "service": "runway-console simulator",
            "simulated": True,
            "description": "A stand-in for the Runway image-to-video API; videos are "
            "crossfades or zooms of the input frames, not generated.",
            "endpoints": [
                "POST /v1/image_to_video",
                "GET /v1/tasks/{id}",
                "DELETE /v1/tasks/{id}",
                "GET /v1/organization",
                "POST /v1/uploads",
            ],
            "relayPrefix": RELAY_PREFIX,
            "models": [model.id for model in simulator_for(request).catalogue.models],
            "triggers": [trigger.word for trigger in TRIGGERS],
        }
    )


async def create_task(request: Request) -> Response:
    """Validate an image-to-video request and queue a task for it."""
    if (refusal := _api_refusal(request)) is not None:
        return refusal
    simulator = simulator_for(request)
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    try:
        task_request = await run_in_threadpool(
            validate, body, simulator.catalogue, simulator.settings.video_max_side, simulator.uploads.read
        )
        task_id, credits = simulator.create(task_request, _public_base(request))
    except ValidationFailed as exc:
        return _validation_error(exc.issues)
    except NotEnoughCredits:
        return _error(400, NOT_ENOUGH_CREDITS)
    except DailyLimitReached as exc:
        return _error(429, DAILY_LIMIT.format(model=exc.model))
    except SimulatorClosed:
        return _error(503, "The simulator is shutting down")
    if task_request.notify_hook is not None:
        simulator.notifier.wake()
    return ApiJSON({"id": task_id, "estimatedCost": {"credits": credits if math.isfinite(credits) else 0}})


async def get_task(request: Request) -> Response:
    """Show a task's current status, advancing the simulation to now first."""
    if (refusal := _api_refusal(request)) is not None:
        return refusal
    task = simulator_for(request).get(request.path_params["task_id"], _public_base(request))
    return ApiJSON(task) if task is not None else _error(404, "Task not found")


async def delete_task(request: Request) -> Response:
    """Cancel a task that is still going, or delete one that has finished."""
    if (refusal := _api_refusal(request)) is not None:
        return refusal
    if not simulator_for(request).cancel_or_delete(request.path_params["task_id"]):
        return _error(404, "Task not found")
    return Response(status_code=204)


async def show_organization(request: Request) -> Response:
    """Show the simulated account: credit balance, tier limits per model, usage in the past day."""
    if (refusal := _api_refusal(request)) is not None:
        return refusal
    return ApiJSON(simulator_for(request).organization())


async def start_upload(request: Request) -> Response:
    """Hand out an upload slot: where to POST the file, the form fields, and its runway:// URI."""
    if (refusal := _api_refusal(request)) is not None:
        return refusal
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    if not isinstance(body, dict):
        return _validation_error([{"path": [], "message": issue_message("body_not_object")}])
    issues: list[dict[str, Any]] = []
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename.strip():
        code = "field_required" if filename is None else "field_type"
        issues.append({"path": ["filename"], "message": issue_message(code)})
    elif len(filename) > FILENAME_MAX_CHARS or any(c in filename for c in "/\\\x00"):
        issues.append({"path": ["filename"], "message": issue_message("upload_filename")})
    if body.get("type") != "ephemeral":
        code = "field_required" if body.get("type") is None else "upload_type"
        issues.append({"path": ["type"], "message": issue_message(code)})
    if issues:
        return _validation_error(issues)
    assert isinstance(filename, str)
    try:
        started = simulator_for(request).uploads.start(filename)
    except TooManyUploads:
        return _error(429, "Too many uploads in progress; try again later")
    return ApiJSON(
        {"uploadUrl": f"{_public_base(request)}uploads", "fields": started.fields, "runwayUri": started.runway_uri}
    )


async def answer_http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer in the API's JSON error shape."""
    assert isinstance(exc, HTTPException)
    return ApiJSON({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def answer_crash(request: Request, exc: Exception) -> Response:
    """A bug must still answer JSON, never a bare traceback page."""
    return _error(500, "Internal simulator error")


EXCEPTION_HANDLERS = {HTTPException: answer_http_error, Exception: answer_crash}
