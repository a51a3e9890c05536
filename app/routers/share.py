"""Share links: the share box of a task or a comparison, making and revoking a task's link, and the
read-only pages and media under /s/{token}.

Everything a shared page needs (its video, poster and first frame; a grid's cells and videos) is
served under /s/{token}/, so the link works for someone who may not open the console's own routes,
and a revoked token makes all of it 404 at once.
"""

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from app.auth import public
from app.catalogue import Catalogue
from app.comparison_views import CellLinks, cell_context, comparison_context, playable_cells
from app.comparisons import Comparison
from app.deps import (
    CacheDep,
    CatalogueDep,
    ClockDep,
    FramesDep,
    PollerDep,
    SharingDep,
    StoreDep,
    VideosDep,
    VisibleTaskDep,
)
from app.media_responses import shared_media
from app.rendering import is_htmx, render
from app.sharing import Sharing, shared_comparison, shared_task
from app.storage import Share, ShareKind, TaskStore
from app.tasks import TaskRecord
from app.views import frame_source

router = APIRouter()

FRAME_POSITIONS = ("first", "last")
NOINDEX = {"X-Robots-Tag": "noindex"}


@dataclass(frozen=True)
class ShareBox:
    """What a kind of target's share box (_share_box.html) says, and where its buttons and its page are."""

    create_route: str
    revoke_route: str
    page_route: str
    id_param: str
    live_hint: str
    none_hint: str
    # Copying and select-on-focus come with gallery.js, which the task page loads and the grid's does not.
    copyable: bool


# (create_route, revoke_route, page_route, id_param, live_hint, none_hint, copyable) for each kind of target.
SHARE_BOXES = {
    ShareKind.TASK: ShareBox(
        "share_task", "revoke_task_share", "show_task", "task_id", "share.live_hint", "share.none_hint", True
    ),
    ShareKind.COMPARISON: ShareBox(
        "share_comparison", "revoke_comparison_share", "show_comparison", "comparison_id",
        "compare.share_live_hint", "compare.share_none_hint", False,
    ),
}


def share_box_context(request: Request, kind: ShareKind, target_id: str, share: Share | None) -> dict[str, object]:
    """What _share_box.html needs: the target's box, its id, and the absolute link when it is shared."""
    box = SHARE_BOXES[kind]
    return {
        "share_box": box,
        "share_params": {box.id_param: target_id},
        "share_url": str(request.url_for("show_share", token=share.token)) if share else None,
    }


def share_box_response(request: Request, kind: ShareKind, target_id: str, share: Share | None) -> Response:
    """The box again after a share or a revoke (HTMX swaps it in place); without HTMX, back to the page's box."""
    if is_htmx(request):
        return render(request, "_share_box.html", share_box_context(request, kind, target_id, share))
    page = request.url_for(SHARE_BOXES[kind].page_route, **{SHARE_BOXES[kind].id_param: target_id}).path
    return RedirectResponse(page + "#share", status_code=303)


@router.post("/tasks/{task_id}/share", name="share_task")
async def share_task(request: Request, task: VisibleTaskDep, sharing: SharingDep) -> Response:
    """Make the task's read-only link (or show the one it has)."""
    return share_box_response(request, ShareKind.TASK, task.id, sharing.share(ShareKind.TASK, task.id))


@router.post("/tasks/{task_id}/share/revoke", name="revoke_task_share")
async def revoke_task_share(request: Request, task: VisibleTaskDep, sharing: SharingDep) -> Response:
    """Revoke the task's link: every URL under it answers 404 from now on."""
    sharing.revoke(ShareKind.TASK, task.id)
    return share_box_response(request, ShareKind.TASK, task.id, None)


async def get_shared_task(token: str, store: StoreDep, sharing: SharingDep) -> TaskRecord:
    """The task the live link {token} points at, or 404 (malformed, unknown, revoked, a comparison's link)."""
    task = shared_task(sharing, store, token)
    if task is None:
        raise HTTPException(404, "unknown link")
    return task


SharedTaskDep = Annotated[TaskRecord, Depends(get_shared_task)]


def _comparison_or_404(token: str, sharing: Sharing, store: TaskStore) -> Comparison:
    comparison = shared_comparison(sharing, store, token)
    if comparison is None:
        raise HTTPException(404, "unknown link")
    return comparison


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
    comparison = shared_comparison(sharing, store, token)
    if comparison is not None:
        return _show_shared_comparison(request, token, comparison, store, catalogue, poller.clock())
    task = await get_shared_task(token, store, sharing)
    if task.is_evicted:
        task = poller.refetch(task)
    elif task.video_file is not None:
        cache.viewed(task)
    context = {
        "task": task,
        "token": token,
        "spec": catalogue.get(task.model or ""),
        "first_frame": frame_source(task.first_frame),
        "video_url": str(request.url_for("serve_shared_video", token=token)) if task.video_file else None,
        "poster_url": _preview_image(request, token, task),
        "page_url": str(request.url_for("show_share", token=token)),
    }
    return render(request, "share.html", context, headers=NOINDEX)


def _preview_image(request: Request, token: str, task: TaskRecord) -> str | None:
    """The absolute URL of the picture a link preview shows: the poster, else the first frame."""
    if task.poster_file is not None or (task.video_file is not None and not task.poster_failed):
        return str(request.url_for("serve_shared_poster", token=token))
    source = frame_source(task.first_frame)
    if source and source["ref"]:
        return str(request.url_for("serve_shared_frame", token=token, position="first"))
    return None


def _shared_links(request: Request, token: str) -> CellLinks:
    """A shared grid polls, and plays videos, under its token only; it links to no task page."""
    return CellLinks(
        poll=lambda index: request.url_for("show_shared_comparison_cell", token=token, index=index).path,
        video=lambda _task_id, index: request.url_for("serve_shared_comparison_video", token=token, index=index).path,
        task=None,
    )


def _show_shared_comparison(
    request: Request, token: str, comparison: Comparison, store: TaskStore, catalogue: Catalogue, now: float
) -> Response:
    """The read-only page of a shared comparison: the grid with its synced player, nothing to act on."""
    context = comparison_context(comparison, store, catalogue, now, _shared_links(request, token))
    playable = playable_cells(context)
    context |= {
        "shared": True,
        "page_url": str(request.url_for("show_share", token=token)),
        "preview_video": (
            str(request.url_for("serve_shared_comparison_video", token=token, index=playable[0])) if playable else None
        ),
    }
    return render(request, "share_compare.html", context, headers=NOINDEX)


@router.get("/s/{token}/video.mp4", name="serve_shared_video")
@public
async def serve_shared_video(task: SharedTaskDep, videos: VideosDep, cache: CacheDep) -> Response:
    """The shared task's video from this server's cache (Range requests work)."""
    path = videos.find(task.id) if task.video_file is not None else None
    if path is None:
        raise HTTPException(404, "no video")
    cache.viewed(task)
    return shared_media(path)


@router.get("/s/{token}/poster.jpg", name="serve_shared_poster")
@public
async def serve_shared_poster(task: SharedTaskDep, cache: CacheDep) -> Response:
    """The shared task's poster frame (made from the video on first use)."""
    path = await asyncio.to_thread(cache.poster, task)
    if path is None:
        raise HTTPException(404, "no poster")
    return shared_media(path, "image/jpeg")


@router.get("/s/{token}/frames/{position}", name="serve_shared_frame")
@public
async def serve_shared_frame(task: SharedTaskDep, position: str, frames: FramesDep) -> Response:
    """An input frame of the shared task, when it was uploaded (a frame given by URL is shown as its address)."""
    if position not in FRAME_POSITIONS:
        raise HTTPException(404, "no such frame")
    ref = task.frame_refs[position]
    path = frames.path(ref) if ref else None
    if ref is None or path is None:
        raise HTTPException(404, "no such frame")
    return shared_media(path, frames.mime(ref))


@router.get("/s/{token}/cells/{index}", name="show_shared_comparison_cell")
@public
async def show_shared_comparison_cell(
    request: Request,
    token: str,
    index: int,
    store: StoreDep,
    sharing: SharingDep,
    catalogue: CatalogueDep,
    clock: ClockDep,
) -> Response:
    """One cell of a shared grid, for HTMX to poll (286 once settled)."""
    comparison = _comparison_or_404(token, sharing, store)
    if not 0 <= index < len(comparison.entries):
        raise HTTPException(404, "unknown cell")
    cell = cell_context(comparison, index, store, catalogue, clock(), _shared_links(request, token))
    return render(request, "_compare_cell.html", {"cell": cell}, status_code=286 if cell["settled"] else 200)


@router.get("/s/{token}/videos/{index}.mp4", name="serve_shared_comparison_video")
@public
async def serve_shared_comparison_video(
    token: str, index: int, store: StoreDep, sharing: SharingDep, videos: VideosDep
) -> Response:
    """The video of one cell of a shared comparison, from this server's copy (Range requests work)."""
    comparison = _comparison_or_404(token, sharing, store)
    entry = comparison.entries[index] if 0 <= index < len(comparison.entries) else None
    task = store.get(entry.task_id) if entry is not None and entry.task_id else None
    path = videos.find(task.id) if task is not None and task.video_file is not None else None
    if path is None:
        raise HTTPException(404, "no video")
    return shared_media(path)
