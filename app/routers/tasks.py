"""Following a task: its page, the status fragment HTMX polls, cancel and check again, the video and
the request that was sent. (The form's post that creates tasks is routers/submissions.py.)"""

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.catalogue import Catalogue
from app.codegen import task_snippets
from app.deps import (
    AccessDep,
    CacheDep,
    CatalogueDep,
    ClockDep,
    FramesDep,
    OpenedTaskDep,
    PollerDep,
    SettingsDep,
    SharingDep,
    StatusVersionDep,
    StoreDep,
    UpstreamForDep,
    VersionsDep,
    VideosDep,
    VisibleTaskDep,
    get_visible_task,
)
from app.form_values import Message
from app.media_responses import task_video
from app.rendering import is_htmx, render, wants_json
from app.routers.share import share_box_context
from app.storage import ShareKind
from app.tasks import TaskRecord
from app.upstream_errors import UpstreamError
from app.views import (
    frame_notes,
    last_response_display,
    replayable_body,
    request_display,
    task_json,
    task_status_context,
    upstream_messages,
)
from app.visitor_keys import KeyNeeded

router = APIRouter()

def status_context(task: TaskRecord, catalogue: Catalogue, now: float, version: str) -> dict[str, object]:
    """What _task_status.html needs: the task's moment and the version it shows."""
    return task_status_context(task, catalogue, now) | {"status_version": version}


@router.get("/tasks/{task_id}", name="show_task")
async def show_task(
    request: Request,
    version: StatusVersionDep,
    task: OpenedTaskDep,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    upstream_for: UpstreamForDep,
    frames: FramesDep,
    poller: PollerDep,
    clock: ClockDep,
    cache: CacheDep,
    sharing: SharingDep,
) -> Response:
    """The task page: parameters, live status, the video when it is ready, the exact request as code."""
    if task.is_evicted:
        task = poller.refetch(task)
    elif task.video_file is not None:
        cache.viewed(task)
    if not task.is_settled:
        poller.wake()
    if wants_json(request):
        return JSONResponse(task_json(task, _video_url(request, task)))
    # Where the request went: the owner's upstream (a visitor's choice), or the console's own.
    upstream = upstream_for(task.owner) or upstream_for.server
    context = status_context(task, catalogue, clock(), version) | {
        "request_info": request_display(task, upstream, frames),
        "notes": frame_notes(task),
        "code": task_snippets(task, settings, upstream),
        "last_response": last_response_display(task),
        **share_box_context(request, ShareKind.TASK, task.id, sharing.link_for(ShareKind.TASK, task.id)),
    }
    return render(request, "task.html", context)


@router.get("/tasks/{task_id}/status", name="show_task_status")
async def show_task_status(
    request: Request,
    task_id: str,
    version: StatusVersionDep,
    access: AccessDep,
    store: StoreDep,
    versions: VersionsDep,
    catalogue: CatalogueDep,
    clock: ClockDep,
    v: str | None = None,
) -> Response:
    """The status fragment HTMX polls: 204 when the page shows the current version, 286 once settled.

    `v` is the version the polling page shows (in its hx-get URL); 204 means "no swap" to HTMX,
    which keeps polling, so an unchanged task costs no database read and no render. The task's
    owner is remembered with its version, so the same visibility rule applies without a read.
    """
    unchanged, owner = versions.unchanged(task_id, v)
    if unchanged and access.can_see_owner(owner):
        return Response(status_code=204)
    task = await get_visible_task(task_id, store, access)
    versions.remember_owner(task.id, task.owner)
    context = status_context(task, catalogue, clock(), version)
    return render(request, "_task_status.html", context, status_code=286 if task.is_settled else 200)


@router.post("/tasks/{task_id}/cancel", name="cancel_task")
async def cancel_task(
    request: Request,
    version: StatusVersionDep,
    task: VisibleTaskDep,
    catalogue: CatalogueDep,
    poller: PollerDep,
    clock: ClockDep,
) -> Response:
    """Ask the upstream to cancel a running task (DELETE) and show the result."""
    error_messages: list[Message] = []
    status_code = 200
    try:
        task = await poller.cancel(task)
    except UpstreamError as error:
        error_messages = upstream_messages(error)
        status_code = 502
    except KeyNeeded:
        error_messages = [Message("visitor.key_first")]
        status_code = 409
    if not is_htmx(request):
        if status_code == 409:
            raise HTTPException(409, "key needed")
        if error_messages:
            raise HTTPException(502, " ".join(str(m.params.get("detail", "")) for m in error_messages))
        return RedirectResponse(request.url_for("show_task", task_id=task.id).path, status_code=303)
    context = status_context(task, catalogue, clock(), version) | {"action_errors": error_messages}
    return render(request, "_task_status.html", context, status_code=status_code)


@router.post("/tasks/{task_id}/check", name="recheck_task")
async def recheck_task(
    request: Request,
    task: VisibleTaskDep,
    catalogue: CatalogueDep,
    poller: PollerDep,
    clock: ClockDep,
    versions: VersionsDep,
) -> Response:
    """Take back a task given up as gone: poll it again now, with a fresh 404 grace period."""
    task = poller.check_again(task)
    if not is_htmx(request):
        return RedirectResponse(request.url_for("show_task", task_id=task.id).path, status_code=303)
    # check_again wrote the task just now, synchronously: this is the version of what is shown.
    context = status_context(task, catalogue, clock(), versions.current(task.id))
    return render(request, "_task_status.html", context)


@router.get("/tasks/{task_id}/video.mp4", name="serve_video")
async def serve_video(
    task: VisibleTaskDep, videos: VideosDep, settings: SettingsDep, cache: CacheDep, download: bool = False
) -> Response:
    """The downloaded result (Range requests work, so seeking works), or nginx told to send it."""
    path = videos.find(task.id) if task.video_file is not None else None
    if path is None:
        raise HTTPException(404, "no video yet")
    cache.viewed(task)
    return task_video(path, task.id, download=download, accel_prefix=settings.accel_redirect)


@router.get("/tasks/{task_id}/request.json", name="show_request_body")
async def show_request_body(task: VisibleTaskDep, frames: FramesDep) -> Response:
    """The full JSON body that was sent upstream, frames included, to replay it with curl."""
    try:
        body = replayable_body(task, frames)
    except FileNotFoundError:
        raise HTTPException(404, "a frame of this request is no longer stored") from None
    if body is None:
        raise HTTPException(404, "no request recorded")
    return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="request-{task.id}.json"'})


def _video_url(request: Request, task: TaskRecord) -> str | None:
    return request.url_for("serve_video", task_id=task.id).path if task.video_file else None
