"""The gallery of tasks, its live card updates, posters, and deleting a task."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.deps import (
    CacheDep,
    CatalogueDep,
    ClockDep,
    RemovalDep,
    StoreDep,
    VisibilityDep,
    VisibleTaskDep,
)
from app.form_values import Message
from app.gallery import GalleryQuery, gallery_page, live_updates, task_card
from app.media_responses import poster
from app.rendering import is_htmx, render
from app.tasks import is_task_id
from app.upstream_errors import UpstreamError
from app.views import upstream_messages

router = APIRouter()

CONFIRM_FIELD = "confirm"


@router.get("/tasks", name="list_tasks")
async def list_tasks(
    request: Request,
    store: StoreDep,
    catalogue: CatalogueDep,
    clock: ClockDep,
    visibility: VisibilityDep,
    id: str | None = None,
    status: str | None = None,
    model: str | None = None,
    q: str | None = None,
    page: str | None = None,
    deleted: str | None = None,
) -> Response:
    """The gallery, newest first, filtered by status, model and prompt words; ?id= opens that task instead."""
    open_error = False
    if id is not None:
        task_id = id.strip()
        if is_task_id(task_id):
            return RedirectResponse(request.url_for("show_task", task_id=task_id).path, status_code=303)
        open_error = True
    query = GalleryQuery.parse(status, model, q, page)
    context = gallery_page(query, store, visibility, catalogue, clock())
    context |= {"open_error": open_error, "deleted": deleted == "1"}
    status_code = 422 if open_error or query.errors else 200
    return render(request, "tasks.html", context, status_code=status_code)


@router.get("/gallery/live", name="show_gallery_updates")
async def show_gallery_updates(
    request: Request,
    store: StoreDep,
    catalogue: CatalogueDep,
    clock: ClockDep,
    visibility: VisibilityDep,
    ids: str = "",
    since: Annotated[float, Query(ge=0)] = 0.0,
) -> Response:
    """The cards of unfinished tasks that changed since `since`, swapped in out of band; one request for a page."""
    context = live_updates(ids, since, store, visibility, catalogue, clock())
    return render(request, "_gallery_live.html", context)


@router.get("/tasks/{task_id}/poster.jpg", name="serve_poster")
async def serve_poster(task: VisibleTaskDep, cache: CacheDep) -> Response:
    """The task's poster frame, made from its cached video the first time it is asked for."""
    path = await asyncio.to_thread(cache.poster, task)
    if path is None:
        raise HTTPException(404, "no poster")
    return poster(path)


@router.get("/tasks/{task_id}/delete", name="confirm_delete")
async def confirm_delete(request: Request, task: VisibleTaskDep) -> Response:
    """Ask before deleting (the page a delete button leads to without JavaScript)."""
    return render(request, "confirm_delete.html", {"task": task, "action_errors": []})


@router.post("/tasks/{task_id}/delete", name="delete_task")
async def delete_task(
    request: Request,
    task: VisibleTaskDep,
    removal: RemovalDep,
    catalogue: CatalogueDep,
    clock: ClockDep,
) -> Response:
    """Delete a task upstream and here (record, video, poster, unshared frames) once confirmed."""
    form = await request.form(max_files=0, max_fields=4)
    if form.get(CONFIRM_FIELD) != "yes":
        return render(request, "confirm_delete.html", {"task": task, "action_errors": [Message("delete.unconfirmed")]})
    from_card = is_htmx(request) and request.headers.get("hx-target", "") == f"card-{task.id}"
    try:
        await removal.remove(task)
    except UpstreamError as error:
        errors = [Message("delete.upstream_refused"), *upstream_messages(error)]
        if from_card:
            card = task_card(task, catalogue, clock())
            return render(request, "_task_card.html", {"card": card, "action_errors": errors}, status_code=502)
        return render(request, "confirm_delete.html", {"task": task, "action_errors": errors}, status_code=502)
    gallery = request.url_for("list_tasks").path
    if from_card:
        return Response(status_code=200)  # the card's outerHTML becomes nothing: it is gone
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": f"{gallery}?deleted=1"})
    return RedirectResponse(f"{gallery}?deleted=1", status_code=303)
