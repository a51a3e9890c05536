"""Creating tasks and following them: the form post, the task page, its status fragment, the video."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from app.deps import (
    CatalogueDep,
    FramesDep,
    ImageSlotsDep,
    PollerDep,
    SettingsDep,
    StoreDep,
    UpstreamDep,
    VideosDep,
    get_translator,
)
from app.forms import FormErrors, FormValues, Message, errors_from_upstream, frame_data_uri, parse_task_form
from app.images import ImageProblem
from app.poller import TaskPoller, apply_task_data
from app.rendering import is_htmx, render, wants_json
from app.storage import TASK_ID_PATTERN, TaskRecord, TaskStore
from app.timestamps import utc_iso
from app.upstream import UpstreamClient, UpstreamError
from app.views import form_context, request_display, task_status_context, upstream_messages

router = APIRouter()

# Browser tabs poll our database, not the upstream, so this can be brisk.
STATUS_REFRESH_SECONDS = 2
MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 40


def _checked_id(task_id: str) -> str:
    if not TASK_ID_PATTERN.match(task_id):
        raise HTTPException(404, "unknown task")
    return task_id


def _form_response(
    request: Request, catalogue, values: FormValues, errors: FormErrors, status_code: int
) -> Response:
    """The form again, with messages by the fields and every value the user gave."""
    if wants_json(request):
        t = get_translator(request)
        return JSONResponse(
            {
                "errors": {name: [t(m.key, **m.params) for m in ms] for name, ms in errors.fields.items()},
                "general": [t(m.key, **m.params) for m in errors.general],
            },
            status_code=status_code,
        )
    template = "_form.html" if is_htmx(request) else "index.html"
    context = form_context(catalogue, values, errors)
    context["recent"] = []
    return render(request, template, context, status_code=status_code)


@router.post("/tasks", name="create_task")
async def create_task(
    request: Request,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    store: StoreDep,
    upstream: UpstreamDep,
    frames: FramesDep,
    image_slots: ImageSlotsDep,
    poller: PollerDep,
) -> Response:
    """Validate the form, send the task upstream, and go to its page (303)."""
    try:
        form: FormData = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
    except HTTPException:
        errors = FormErrors(general=[Message("errors.form_unreadable")])
        return _form_response(request, catalogue, FormValues.defaults(catalogue), errors, 400)
    values, submission, errors = await parse_task_form(
        form,
        catalogue=catalogue,
        frames=frames,
        max_upload_bytes=settings.max_upload_bytes,
        image_slots=image_slots,
    )
    await form.close()
    if submission is None:
        return _form_response(request, catalogue, values, errors, 422)

    try:
        created = await upstream.create_task(submission.upstream_body())
    except UpstreamError as error:
        errors = errors_from_upstream(error.issues, submission.frames)
        errors.general[:0] = upstream_messages(error)
        return _form_response(request, catalogue, values, errors, 422 if error.kind == "validation" else 502)

    now = time.time()
    first = next((f for f in submission.frames if f.position == "first"), None)
    last = next((f for f in submission.frames if f.position == "last"), None)
    store.insert(
        TaskRecord(
            id=created.id,
            origin="console",
            created_at=utc_iso(now),
            submitted_at=now,
            status="PENDING",
            updated_at=now,
            model=submission.model.id,
            ratio=submission.ratio,
            duration=submission.duration,
            seed=submission.seed,
            seed_rolled=submission.seed_rolled,
            prompt=submission.prompt,
            watermark=submission.watermark,
            notify_hook=submission.notify_hook,
            first_frame=first.stored if first else None,
            last_frame=last.stored if last else None,
            request_json=json.dumps(submission.stored_body(), ensure_ascii=False),
            notes_json=json.dumps({p: [(m.key, m.params) for m in ms] for p, ms in values.notes.items() if ms}),
            estimated_cost=created.estimated_cost,
            next_poll_at=now + settings.poll_interval,
        )
    )
    poller.wake()
    task_url = request.url_for("show_task", task_id=created.id).path
    if wants_json(request):
        return JSONResponse({"id": created.id, "url": task_url, "seed": submission.seed}, status_code=201)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": task_url})
    return RedirectResponse(task_url, status_code=303)


async def _load_task(task_id: str, store: TaskStore, upstream: UpstreamClient, poller: TaskPoller) -> TaskRecord:
    """A task from the database, or fetched once from upstream when it was created elsewhere."""
    task = store.get(_checked_id(task_id))
    if task is not None:
        return task
    try:
        data = await upstream.get_task(task_id)
    except UpstreamError as error:
        if error.kind == "not_found":
            raise HTTPException(404, "unknown task") from None
        raise HTTPException(502, str(error)) from None
    now = time.time()
    task = TaskRecord(
        id=task_id,
        origin="external",
        created_at=str(data.get("createdAt") or ""),
        submitted_at=now,
        status="PENDING",
        updated_at=now,
        # This fetch counts as the poll: the task keeps to one upstream GET per interval.
        next_poll_at=now + poller.interval,
    )
    for name, value in apply_task_data(task, data, now).items():
        setattr(task, name, value)
    store.insert(task)
    return task


@router.get("/tasks/{task_id}", name="show_task")
async def show_task(
    request: Request,
    task_id: str,
    catalogue: CatalogueDep,
    store: StoreDep,
    upstream: UpstreamDep,
    frames: FramesDep,
    poller: PollerDep,
) -> Response:
    """The task page: parameters, live status, the video when it is ready, the exact request."""
    task = await _load_task(task_id, store, upstream, poller)
    if not task.is_settled:
        poller.wake()
    if wants_json(request):
        return JSONResponse(_task_json(request, task))
    notes = json.loads(task.notes_json) if task.notes_json else {}
    context = task_status_context(task, catalogue) | {
        "request_info": request_display(task, upstream, frames),
        "notes": {p: [Message(k, params) for k, params in ms] for p, ms in notes.items()},
        "refresh_seconds": STATUS_REFRESH_SECONDS,
    }
    return render(request, "task.html", context)


@router.get("/tasks/{task_id}/status", name="show_task_status")
async def show_task_status(request: Request, task_id: str, catalogue: CatalogueDep, store: StoreDep) -> Response:
    """The status fragment HTMX polls; answers 286 (stop polling) once nothing more will change."""
    task = store.get(_checked_id(task_id))
    if task is None:
        raise HTTPException(404, "unknown task")
    context = task_status_context(task, catalogue) | {"refresh_seconds": STATUS_REFRESH_SECONDS}
    return render(request, "_task_status.html", context, status_code=286 if task.is_settled else 200)


@router.post("/tasks/{task_id}/cancel", name="cancel_task")
async def cancel_task(
    request: Request, task_id: str, catalogue: CatalogueDep, store: StoreDep, upstream: UpstreamDep
) -> Response:
    """Ask the upstream to cancel a running task (DELETE) and show the result."""
    task = store.get(_checked_id(task_id))
    if task is None:
        raise HTTPException(404, "unknown task")
    error_messages: list[Message] = []
    status_code = 200
    if task.is_active:
        try:
            await upstream.delete_task(task.id)
        except UpstreamError as error:
            if error.kind != "not_found":
                error_messages = upstream_messages(error)
                status_code = 502
        if not error_messages:
            store.update(task.id, status="CANCELLED", finished_at=time.time())
            task = store.get(task.id) or task
    if not is_htmx(request):
        if error_messages:
            raise HTTPException(502, " ".join(str(m.params.get("detail", "")) for m in error_messages))
        return RedirectResponse(request.url_for("show_task", task_id=task.id).path, status_code=303)
    context = task_status_context(task, catalogue) | {
        "refresh_seconds": STATUS_REFRESH_SECONDS,
        "action_errors": error_messages,
    }
    return render(request, "_task_status.html", context, status_code=status_code)


@router.get("/tasks/{task_id}/video.mp4", name="serve_video")
async def serve_video(task_id: str, store: StoreDep, videos: VideosDep, download: bool = False) -> Response:
    """The downloaded result, from this server (Range requests work, so seeking works)."""
    task = store.get(_checked_id(task_id))
    if task is None or task.video_file is None:
        raise HTTPException(404, "no video yet")
    path = videos.path_for(task.id)
    if not path.is_file():
        raise HTTPException(404, "no video yet")
    disposition = "attachment" if download else "inline"
    return FileResponse(
        path,
        media_type="video/mp4",
        filename=f"runway-{task.id}.mp4",
        content_disposition_type=disposition,
    )


@router.get("/tasks/{task_id}/request.json", name="show_request_body")
async def show_request_body(task_id: str, store: StoreDep, frames: FramesDep) -> Response:
    """The full JSON body that was sent upstream, frames included, to replay it with curl."""
    task = store.get(_checked_id(task_id))
    if task is None or not task.request_json:
        raise HTTPException(404, "no request recorded")
    body = json.loads(task.request_json)
    for image in body.get("promptImage", []):
        uri = image.get("uri", "")
        if uri.startswith("frame:"):
            try:
                image["uri"] = frame_data_uri(frames, uri.removeprefix("frame:"))
            except ImageProblem:
                raise HTTPException(404, "a frame of this request is no longer stored") from None
    return JSONResponse(
        body, headers={"Content-Disposition": f'attachment; filename="request-{task.id}.json"'}
    )


def _task_json(request: Request, task: TaskRecord) -> dict[str, object]:
    video = request.url_for("serve_video", task_id=task.id).path if task.video_file else None
    return {
        "id": task.id,
        "status": task.status,
        "progress": task.progress,
        "failure": task.failure,
        "failureCode": task.failure_code,
        "createdAt": task.created_at,
        "model": task.model,
        "ratio": task.ratio,
        "duration": task.duration,
        "seed": task.seed,
        "promptText": task.prompt,
        "video": video,
        "gone": task.gone,
    }
