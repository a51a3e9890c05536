"""The Runway API on the console: scripts and the official SDK create, follow and cancel tasks here,
with a console token instead of the upstream key, and get their videos from the console itself."""

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request as StarletteRequest

from app.api_documents import task_document
from app.api_errors import api_error, invalid_request, upstream_create_problem, upstream_failed
from app.api_messages import version_problem
from app.api_requests import InvalidRequest, api_message, read_create_body, read_json_body, read_upload_start
from app.api_uploads import (
    MULTIPART_OVERHEAD_BYTES,
    SIGNING_PURPOSE,
    UPLOAD_URL_SECONDS,
    BodyTooLarge,
    limited_receive,
)
from app.deps import (
    ApiServicesDep,
    CatalogueDep,
    FrameIntakeDep,
    FramesDep,
    PollerDep,
    RemovalDep,
    SettingsDep,
    StoreDep,
    VideosDep,
)
from app.images import ImageProblem
from app.media_responses import api_video
from app.poller import SubmissionNotRecorded
from app.request_limits import BodyTooLarge as RouteBodyTooLarge
from app.tasks import TaskOrigin, TaskRecord, is_task_id, token_owner
from app.upstream_errors import ErrorKind, UpstreamError

log = logging.getLogger(__name__)

router = APIRouter()

RELAY_PREFIX = "/runwayml"
VIDEO_PURPOSE = "video"
# Output links last as long as the official API's (24–48 h): a client fetches the task again for new ones.
VIDEO_URL_SECONDS = 24 * 3600
JSON_BODY_OVERHEAD_BYTES = 64 * 1024
NOT_FOUND = "Task not found"


def authorize(request: Request, api: ApiServicesDep, settings: SettingsDep) -> str:
    """The token's name; 401 without a known token, 429 over its rate, 400 without a known API version."""
    if settings.visitor_keys and not settings.visitor_keys_api:
        # Visitors' keys are theirs alone; tokens would spend the server's key, off unless the operator says so.
        raise api_error(403, "The API is off on this console: visitors use their own keys in the web page.")
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    name = api.tokens.identify(presented.strip()) if scheme.lower() == "bearer" else None
    if name is None:
        raise api_error(401, "Invalid API token. Ask the console's operator for one (runway-console token add NAME).")
    decision = api.rate.check(name)
    if not decision.allowed:
        raise api_error(
            429,
            f"Too many requests: this token may make {api.rate.per_minute} requests a minute.",
            **{"Retry-After": str(decision.retry_after)},
        )
    problem = version_problem(request.headers.get("x-runway-version"))
    if problem is not None:
        raise invalid_request([{"path": ["headers", "X-Runway-Version"], "message": problem}])
    return name


TokenName = Annotated[str, Depends(authorize)]


def _owned_task(store: StoreDep, task_id: str, owner: str) -> TaskRecord:
    """A task this token created; any other id is unknown to it."""
    task = store.get(task_id) if is_task_id(task_id) else None
    if task is None or task.origin != TaskOrigin.API or task.owner != token_owner(owner):
        raise api_error(404, NOT_FOUND)
    return task


def _video_url(request: Request, signer_query: dict[str, str], task_id: str) -> str:
    url = request.url_for("serve_api_video", task_id=task_id)
    return str(url.include_query_params(**signer_query))


@router.post("/v1/image_to_video", name="api_create_task")
async def create_task(
    request: Request,
    name: TokenName,
    api: ApiServicesDep,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    frames: FramesDep,
    intake: FrameIntakeDep,
    poller: PollerDep,
) -> Response:
    """Check an image-to-video request, send it upstream with the console's key, and follow it."""
    # Two frames as data URIs, each up to the form's upload limit once decoded.
    body = await read_json_body(request, 2 * (settings.max_upload_bytes * 4 // 3) + JSON_BODY_OVERHEAD_BYTES)
    try:
        submission, notes = await read_create_body(
            body,
            catalogue=catalogue,
            intake=intake,
            uploads=lambda uri: api.uploads.frame_for(uri, name),
            max_image_bytes=settings.max_upload_bytes,
        )
    except InvalidRequest as invalid:
        raise invalid_request(invalid.issues) from None
    try:
        record = await poller.submit(submission, notes, origin=TaskOrigin.API, owner=token_owner(name))
    except UpstreamError as error:
        raise upstream_create_problem(error) from None
    except SubmissionNotRecorded:
        # Nothing went upstream, so a retry cannot start a second task.
        raise api_error(503, "The console could not record the task, so it did not send it. Try again.",
                     **{"Retry-After": "5"}) from None
    answer: dict[str, Any] = {"id": record.id}
    if record.estimated_cost is not None:
        answer["estimatedCost"] = {"credits": record.estimated_cost}
    return JSONResponse(answer)


@router.get("/v1/tasks/{task_id}", name="api_get_task")
async def get_task(
    request: Request,
    task_id: str,
    name: TokenName,
    api: ApiServicesDep,
    store: StoreDep,
    catalogue: CatalogueDep,
    poller: PollerDep,
) -> Response:
    """The task in the official shape; SUCCEEDED only once its video is on this console."""
    task = _owned_task(store, task_id, name)
    if not task.is_settled:
        poller.wake()
    document = task_document(
        task, catalogue, lambda t: _video_url(request, api.signer.sign(VIDEO_PURPOSE, t.id, VIDEO_URL_SECONDS), t.id)
    )
    return JSONResponse(document)


@router.delete("/v1/tasks/{task_id}", name="api_delete_task", status_code=204)
async def delete_task(
    task_id: str, name: TokenName, store: StoreDep, poller: PollerDep, removal: RemovalDep
) -> Response:
    """Cancel a task that is still going; delete one that has finished (it can no longer be fetched)."""
    task = _owned_task(store, task_id, name)
    try:
        if task.is_active:
            await poller.cancel(task)
        else:
            # As the console's own delete does: upstream first, then record, video, poster, frames, shares.
            await removal.remove(task)
    except UpstreamError as error:
        if error.kind != ErrorKind.NOT_FOUND:
            raise upstream_failed(error) from None
    return Response(status_code=204)


@router.get("/v1/organization", name="api_show_organization")
async def show_organization(name: TokenName, api: ApiServicesDep) -> Response:
    """The upstream account, passed through (briefly cached); 404 where the upstream has none."""
    try:
        account = await api.account.get()
    except UpstreamError as error:
        raise upstream_failed(error) from None
    if account is None:
        raise api_error(404, "This console's upstream does not offer GET /v1/organization.")
    return JSONResponse(account.document)


@router.post("/v1/uploads", name="api_start_upload")
async def start_upload(request: Request, name: TokenName, api: ApiServicesDep) -> Response:
    """Hand out a one-time upload URL on this console and the runway:// URI the file will have."""
    body = await read_json_body(request, JSON_BODY_OVERHEAD_BYTES)
    started = api.uploads.start(name, read_upload_start(body))
    query = api.signer.sign(SIGNING_PURPOSE, started.id, UPLOAD_URL_SECONDS)
    upload_url = request.url_for("api_receive_upload", upload_id=started.id).include_query_params(**query)
    return JSONResponse({"uploadUrl": str(upload_url), "fields": {}, "runwayUri": started.runway_uri})


@router.post("/v1/uploads/{upload_id}", name="api_receive_upload", status_code=204)
async def receive_upload(
    request: Request,
    upload_id: str,
    api: ApiServicesDep,
    settings: SettingsDep,
    frames: FramesDep,
    intake: FrameIntakeDep,
) -> Response:
    """Take the file for an upload URL (signed, one-time; no token, as the SDK sends none)."""
    if not api.signer.valid(
        SIGNING_PURPOSE, upload_id, request.query_params.get("exp"), request.query_params.get("sig")
    ):
        raise api_error(403, "The upload URL is invalid or has expired.")
    if not api.uploads.waiting(upload_id):
        raise api_error(409, "This upload URL has already been used, or its upload has expired.")
    limit = settings.api_upload_max_bytes
    declared = request.headers.get("content-length", "")
    too_large = api_error(413, f"The file is larger than {settings.api_upload_max_mb:g} MB.")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD_BYTES:
        raise too_large
    limited = StarletteRequest(request.scope, limited_receive(request.receive, limit + MULTIPART_OVERHEAD_BYTES))
    try:
        async with limited.form(max_files=1, max_fields=20) as form:
            file = form.get("file")
            if not isinstance(file, UploadFile):
                raise api_error(400, "The form must have one file, named 'file'.")
            raw = await file.read()
    except (BodyTooLarge, RouteBodyTooLarge):  # a chunked body meets the middleware's equal cap first
        raise too_large from None
    except StarletteHTTPException as exc:  # a malformed multipart body
        raise api_error(400, str(exc.detail)) from None
    if len(raw) > limit:
        raise too_large
    try:
        frame, _ = await intake.from_bytes(raw, "first")
    except ImageProblem as problem:
        raise api_error(400, api_message(problem.code, problem.params)) from None
    if frame.ref is None or not api.uploads.fill(upload_id, frame.ref):
        raise api_error(409, "This upload URL has already been used.")
    return Response(status_code=204)


@router.get("/v1/videos/{task_id}.mp4", name="serve_api_video")
async def serve_api_video(
    request: Request, task_id: str, api: ApiServicesDep, store: StoreDep, videos: VideosDep
) -> Response:
    """A task's cached video for API clients: the signed link in its document is the permission."""
    if not api.signer.valid(VIDEO_PURPOSE, task_id, request.query_params.get("exp"), request.query_params.get("sig")):
        raise api_error(403, "The video URL is invalid or has expired; fetch the task again for a new one.")
    task = store.get(task_id) if is_task_id(task_id) else None
    path = videos.find(task_id) if task is not None and task.video_file is not None else None
    if path is None:
        raise api_error(404, "No video for this task.")
    return api_video(path, task_id)
