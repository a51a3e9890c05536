"""Share links: making and revoking them on a task, and the read-only page and media under /s/{token}.

Everything a shared page needs (its video, poster and first frame) is served under /s/{token}/, so
the link works for someone who may not open the console's own task routes, and a revoked token
makes all of it 404 at once.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from app.auth import public
from app.deps import (
    CacheDep,
    CatalogueDep,
    FramesDep,
    PollerDep,
    SharingDep,
    StoreDep,
    VideosDep,
    VisibleTaskDep,
)
from app.rendering import is_htmx, render
from app.routers import compare
from app.storage import Share, ShareKind, TaskStore
from app.tasks import TaskRecord
from app.views import frame_source

router = APIRouter()

# Short, so a revoked link stops working in shared caches soon too.
SHARED_MEDIA_CACHE = "public, max-age=300"
FRAME_POSITIONS = ("first", "last")


def share_box_context(request: Request, share: Share | None, task: TaskRecord) -> dict[str, object]:
    """What _share_box.html needs: the task, and the absolute link when it is shared."""
    url = str(request.url_for("show_share", token=share.token)) if share else None
    return {"task": task, "share_url": url}


def _share_box(request: Request, share: Share | None, task: TaskRecord) -> Response:
    if is_htmx(request):
        return render(request, "_share_box.html", share_box_context(request, share, task))
    return RedirectResponse(request.url_for("show_task", task_id=task.id).path + "#share", status_code=303)


@router.post("/tasks/{task_id}/share", name="share_task")
async def share_task(request: Request, task: VisibleTaskDep, sharing: SharingDep) -> Response:
    """Make the task's read-only link (or show the one it has)."""
    return _share_box(request, sharing.share(ShareKind.TASK, task.id), task)


@router.post("/tasks/{task_id}/share/revoke", name="revoke_task_share")
async def revoke_task_share(request: Request, task: VisibleTaskDep, sharing: SharingDep) -> Response:
    """Revoke the task's link: every URL under it answers 404 from now on."""
    sharing.revoke(ShareKind.TASK, task.id)
    return _share_box(request, None, task)


def _shared_task(token: str, sharing: SharingDep, store: TaskStore) -> TaskRecord:
    share = sharing.resolve(token, ShareKind.TASK)
    task = store.get(share.target_id) if share else None
    if task is None:
        raise HTTPException(404, "unknown link")
    return task


@router.get("/s/{token}", name="show_share")
@public
async def show_share(
    request: Request,
    token: str,
    store: StoreDep,
    sharing: SharingDep,
    catalogue: CatalogueDep,
    cache: CacheDep,
    poller: PollerDep,
) -> Response:
    """The shared, read-only page of one task (video, prompt and settings) or of a comparison; nothing to act on."""
    comparison = compare.shared_comparison(token, sharing, store)
    if comparison is not None:
        return compare.show_shared_comparison(request, token, comparison, store, catalogue, poller.clock())
    task = _shared_task(token, sharing, store)
    if task.is_evicted:
        task = poller.refetch(task)
    elif task.video_file is not None:
        cache.viewed(task)
    first = frame_source(task.first_frame)
    context = {
        "task": task,
        "token": token,
        "spec": catalogue.get(task.model or ""),
        "first_frame": first,
        "video_url": str(request.url_for("serve_shared_video", token=token)) if task.video_file else None,
        "poster_url": _preview_image(request, token, task),
        "page_url": str(request.url_for("show_share", token=token)),
    }
    return render(request, "share.html", context, headers={"X-Robots-Tag": "noindex"})


def _preview_image(request: Request, token: str, task: TaskRecord) -> str | None:
    """The absolute URL of the picture a link preview shows: the poster, else the first frame."""
    if task.poster_file is not None or (task.video_file is not None and not task.poster_failed):
        return str(request.url_for("serve_shared_poster", token=token))
    source = frame_source(task.first_frame)
    if source and source["ref"]:
        return str(request.url_for("serve_shared_frame", token=token, position="first"))
    return None


@router.get("/s/{token}/video.mp4", name="serve_shared_video")
@public
async def serve_shared_video(
    token: str, store: StoreDep, sharing: SharingDep, videos: VideosDep, cache: CacheDep
) -> Response:
    """The shared task's video from this server's cache (Range requests work)."""
    task = _shared_task(token, sharing, store)
    path = videos.find(task.id) if task.video_file is not None else None
    if path is None:
        raise HTTPException(404, "no video")
    cache.viewed(task)
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": SHARED_MEDIA_CACHE})


@router.get("/s/{token}/poster.jpg", name="serve_shared_poster")
@public
async def serve_shared_poster(token: str, store: StoreDep, sharing: SharingDep, cache: CacheDep) -> Response:
    """The shared task's poster frame (made from the video on first use)."""
    task = _shared_task(token, sharing, store)
    path = await asyncio.to_thread(cache.poster, task)
    if path is None:
        raise HTTPException(404, "no poster")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": SHARED_MEDIA_CACHE})


@router.get("/s/{token}/frames/{position}", name="serve_shared_frame")
@public
async def serve_shared_frame(
    token: str, position: str, store: StoreDep, sharing: SharingDep, frames: FramesDep
) -> Response:
    """An input frame of the shared task, when it was uploaded (a frame given by URL is shown from its URL)."""
    task = _shared_task(token, sharing, store)
    if position not in FRAME_POSITIONS:
        raise HTTPException(404, "no such frame")
    ref = task.frame_refs[position]
    path = frames.path(ref) if ref else None
    if ref is None or path is None:
        raise HTTPException(404, "no such frame")
    return FileResponse(path, media_type=frames.mime(ref), headers={"Cache-Control": SHARED_MEDIA_CACHE})
