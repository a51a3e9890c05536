"""Creating tasks and following them: the form post, the task page, its status fragment, the video."""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from app.catalogue import Catalogue
from app.deps import (
    AccessDep,
    CacheDep,
    CallerUpstreamDep,
    CatalogueDep,
    ClockDep,
    FrameIntakeDep,
    FramesDep,
    GateDep,
    OpenedTaskDep,
    PollerDep,
    PrincipalDep,
    SettingsDep,
    SharingDep,
    StatusVersionDep,
    StoreDep,
    UpstreamForDep,
    VersionsDep,
    VideosDep,
    VisibleTaskDep,
    get_translator,
    get_visible_task,
)
from app.form_page import errors_json, form_context
from app.form_values import FormErrors, FormValues, Message
from app.forms import errors_from_upstream, parse_task_form
from app.poller import SubmissionNotRecorded
from app.posted_form import FormUnreadable, read_form
from app.rendering import is_htmx, render, wants_json
from app.routers import compare
from app.routers.share import share_box_context
from app.storage import ShareKind
from app.tasks import TaskRecord
from app.upstream_errors import ErrorKind, UpstreamError
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

# Browser tabs poll our database, not the upstream, so this can be brisk.
STATUS_REFRESH_SECONDS = 2
MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 40
# A frame given as a data URI arrives as a text part: room for the upstream's 5 MB data URI limit.
MAX_FORM_TEXT_PART = 6 * 1024 * 1024


def _form_response(
    request: Request, catalogue: Catalogue, values: FormValues, errors: FormErrors, status_code: int
) -> Response:
    """The form again, with messages by the fields and every value the user gave."""
    if wants_json(request):
        return JSONResponse(errors_json(errors, get_translator(request)), status_code=status_code)
    template = "_form.html" if is_htmx(request) else "index.html"
    context = form_context(catalogue, values, errors)
    context["recent"] = []
    return render(request, template, context, status_code=status_code)


@router.post("/tasks", name="create_task")
async def create_task(
    request: Request,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    intake: FrameIntakeDep,
    upstream: CallerUpstreamDep,
    poller: PollerDep,
    gate: GateDep,
    principal: PrincipalDep,
    store: StoreDep,
) -> Response:
    """Validate the form, send the task upstream, and go to its page (303); several models or seeds: a comparison."""
    try:
        form = await read_form(
            request, max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_TEXT_PART
        )
    except FormUnreadable:
        errors = FormErrors(general=[Message("errors.form_unreadable")])
        return _form_response(request, catalogue, FormValues.defaults(catalogue), errors, 400)
    if compare.is_comparison_form(form.data) and upstream is None:
        await form.data.close()
        # A visitor whose key this process does not hold: nothing is sent (see below).
        errors = FormErrors(general=[Message("visitor.key_first")])
        return _form_response(request, catalogue, FormValues.defaults(catalogue), errors, 409)
    if compare.is_comparison_form(form.data):
        try:
            return await compare.create_comparison(
                request, form.data, catalogue=catalogue, settings=settings, store=store,
                frames=intake.frames, poller=poller, intake=intake, gate=gate, principal=principal,
            )
        finally:
            await form.data.close()
    try:
        values, submission, errors = await parse_task_form(
            form, catalogue=catalogue, frames=intake, max_upload_bytes=settings.max_upload_bytes
        )
    finally:
        await form.data.close()
    if submission is None:
        return _form_response(request, catalogue, values, errors, 422)
    if upstream is None:
        # A visitor whose key this process does not hold (never entered, or lost in a restart): nothing is sent.
        errors = FormErrors(general=[Message("visitor.key_first")])
        return _form_response(request, catalogue, values, errors, 409)

    wait, reserved_at = gate.reserve_task(principal)
    if wait is not None:
        return _over_hourly_cap(request, catalogue, values, settings.tasks_per_hour or 0, wait)
    try:
        created = await poller.submit(submission, values.stored_notes(), owner=principal.owner)
    except UpstreamError as error:
        gate.release_task(principal, reserved_at)
        errors = errors_from_upstream(error.issues, submission.frames)
        errors.general[:0] = upstream_messages(error)
        status_code = 422 if error.kind == ErrorKind.VALIDATION else 502
        return _form_response(request, catalogue, values, errors, status_code)
    except KeyNeeded:
        # The visitor's key was forgotten while the form was being read: nothing was written or sent.
        gate.release_task(principal, reserved_at)
        return _form_response(request, catalogue, values, FormErrors(general=[Message("visitor.key_first")]), 409)
    except SubmissionNotRecorded:
        gate.release_task(principal, reserved_at)
        errors = FormErrors(general=[Message("errors.not_recorded")])
        return _form_response(request, catalogue, values, errors, 503)

    task_url = request.url_for("show_task", task_id=created.id).path
    if wants_json(request):
        return JSONResponse({"id": created.id, "url": task_url, "seed": submission.seed}, status_code=201)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": task_url})
    return RedirectResponse(task_url, status_code=303)


def _over_hourly_cap(request: Request, catalogue: Catalogue, values: FormValues, limit: int, wait: float) -> Response:
    """CONSOLE_TASKS_PER_HOUR reached: 429, saying when the next task may start; nothing sent upstream."""
    minutes = max(1, math.ceil(wait / 60))
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    message = Message("errors.tasks_per_hour", {"limit": limit, "minutes": minutes})
    if wants_json(request):
        t = get_translator(request)
        return JSONResponse(
            {"errors": {}, "general": [t(message.key, **message.params)], "retry_after": math.ceil(wait)},
            status_code=429,
            headers=headers,
        )
    response = _form_response(request, catalogue, values, FormErrors(general=[message]), 429)
    response.headers.update(headers)
    return response


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
    context = task_status_context(task, catalogue, clock()) | {
        "request_info": request_display(task, upstream, frames),
        "notes": frame_notes(task),
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "status_version": version,
        "code": compare.task_snippets(task, settings, upstream),
        "last_response": last_response_display(task),
        **share_box_context(request, sharing.link_for(ShareKind.TASK, task.id), task),
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
    context = task_status_context(task, catalogue, clock()) | {
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "status_version": version,
    }
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
    context = task_status_context(task, catalogue, clock()) | {
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "status_version": version,
        "action_errors": error_messages,
    }
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
    context = task_status_context(task, catalogue, clock()) | {
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        # check_again wrote the task just now, synchronously: this is the version of what is shown.
        "status_version": versions.current(task.id),
    }
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
    disposition = "attachment" if download else "inline"
    if settings.accel_redirect:
        return accel_redirect(settings.accel_redirect, path, f"runway-{task.id}.mp4", disposition)
    return VideoFileResponse(
        path,
        media_type="video/mp4",
        filename=f"runway-{task.id}.mp4",
        content_disposition_type=disposition,
    )


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


class VideoFileResponse(FileResponse):
    """A FileResponse reading 256 KiB at a time (Starlette's 64 KiB means 4× the thread hops per file)."""

    chunk_size = 256 * 1024


def accel_redirect(prefix: str, path: Path, filename: str, disposition: str) -> Response:
    """An empty answer naming the file for nginx to send (X-Accel-Redirect), headers and Range included."""
    return Response(
        status_code=200,
        media_type="video/mp4",
        headers={
            "X-Accel-Redirect": prefix + quote(path.name),
            "Content-Disposition": f'{disposition}; filename="{filename}"',
        },
    )


def _video_url(request: Request, task: TaskRecord) -> str | None:
    return request.url_for("serve_video", task_id=task.id).path if task.video_file else None
