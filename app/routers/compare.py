"""Variations on a task: a comparison's grid, its cells and its share link; "New seed"; and a task's
request as code to run elsewhere. (A comparison is started by the task form: routers/submissions.py.)"""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.codegen import SNIPPET_KINDS, task_snippets
from app.comparison_views import CellLinks, cell_context, comparison_context, comparison_json
from app.comparisons import Comparison, is_comparison_id
from app.deps import (
    AccessDep,
    CatalogueDep,
    ClockDep,
    FramesDep,
    GateDep,
    PollerDep,
    PrincipalDep,
    SettingsDep,
    SharingDep,
    StoreDep,
    UpstreamDep,
    VisibleTaskDep,
    get_translator,
)
from app.poller import SubmissionNotRecorded
from app.rendering import render, see_other, wants_json
from app.routers.share import share_box_context, share_box_response
from app.storage import ShareKind, TaskStore
from app.task_quota import OverHourlyCap, reserve_tasks
from app.upstream_errors import UpstreamError
from app.variations import RerunProblem, rerun_submission, start_task
from app.views import upstream_messages

router = APIRouter()


def get_visible_comparison(comparison_id: str, store: StoreDep, access: AccessDep) -> Comparison:
    """The stored comparison at {comparison_id}, or 404 when unknown or another's in private history."""
    comparison = store.get_comparison(comparison_id) if is_comparison_id(comparison_id) else None
    if comparison is None or not access.can_see_owner(comparison.owner):
        raise HTTPException(404, "unknown comparison")
    return comparison


VisibleComparisonDep = Annotated[Comparison, Depends(get_visible_comparison)]


def own_links(request: Request, comparison: Comparison) -> CellLinks:
    """The grid on the console itself polls its own cells, plays each task's video and links to its page."""
    return CellLinks(
        poll=lambda index: request.url_for("show_comparison_cell", comparison_id=comparison.id, index=index).path,
        video=lambda task_id, _index: request.url_for("serve_video", task_id=task_id).path,
        task=lambda task_id: request.url_for("show_task", task_id=task_id).path,
    )


def comparison_document(request: Request, comparison: Comparison, store: TaskStore) -> dict[str, object]:
    """The comparison as JSON, its own and its tasks' URLs root-relative."""
    return comparison_json(
        comparison,
        store,
        get_translator(request),
        url=request.url_for("show_comparison", comparison_id=comparison.id).path,
        task_url=lambda task_id: request.url_for("show_task", task_id=task_id).path,
    )


@router.get("/compare/{comparison_id}", name="show_comparison")
async def show_comparison(
    request: Request,
    comparison: VisibleComparisonDep,
    store: StoreDep,
    catalogue: CatalogueDep,
    poller: PollerDep,
    clock: ClockDep,
    sharing: SharingDep,
) -> Response:
    """The comparison grid: fills in as each task finishes, with one control to play all videos in sync."""
    if wants_json(request):
        return JSONResponse(comparison_document(request, comparison, store))
    context = comparison_context(comparison, store, catalogue, clock(), own_links(request, comparison))
    share = sharing.link_for(ShareKind.COMPARISON, comparison.id)
    context |= share_box_context(request, ShareKind.COMPARISON, comparison.id, share)
    if not context["settled"]:
        poller.wake()
    return render(request, "compare.html", context)


@router.get("/compare/{comparison_id}/cells/{index}", name="show_comparison_cell")
async def show_comparison_cell(
    request: Request,
    comparison: VisibleComparisonDep,
    index: int,
    store: StoreDep,
    catalogue: CatalogueDep,
    clock: ClockDep,
) -> Response:
    """One cell, for HTMX to poll; answers 286 (stop polling) once its task has settled."""
    if not 0 <= index < len(comparison.entries):
        raise HTTPException(404, "unknown cell")
    cell = cell_context(comparison, index, store, catalogue, clock(), own_links(request, comparison))
    return render(request, "_compare_cell.html", {"cell": cell}, status_code=286 if cell["settled"] else 200)


@router.post("/compare/{comparison_id}/share", name="share_comparison")
async def share_comparison(request: Request, comparison: VisibleComparisonDep, sharing: SharingDep) -> Response:
    """Make the comparison's read-only link (or show the one it has)."""
    share = sharing.share(ShareKind.COMPARISON, comparison.id)
    return share_box_response(request, ShareKind.COMPARISON, comparison.id, share)


@router.post("/compare/{comparison_id}/share/revoke", name="revoke_comparison_share")
async def revoke_comparison_share(request: Request, comparison: VisibleComparisonDep, sharing: SharingDep) -> Response:
    """Revoke the comparison's link: its page, cells and videos answer 404 from now on."""
    sharing.revoke(ShareKind.COMPARISON, comparison.id)
    return share_box_response(request, ShareKind.COMPARISON, comparison.id, None)


@router.post("/tasks/{task_id}/new-seed", name="rerun_with_new_seed")
async def rerun_with_new_seed(
    request: Request,
    task: VisibleTaskDep,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    frames: FramesDep,
    poller: PollerDep,
    gate: GateDep,
    principal: PrincipalDep,
) -> Response:
    """Run the task's stored request again with a fresh seed (same frames, same settings); 303 to the new task."""
    t = get_translator(request)
    try:
        submission = rerun_submission(task, catalogue, frames)
        reservation = reserve_tasks(gate, principal)
    except RerunProblem as problem:
        reasons = " ".join(
            t("errors.rerun_frame_missing" if i.code == "frame_ref_missing" else f"errors.{i.code}", **i.params)
            for i in problem.issues
        )
        return _rerun_failed(request, 422, t("rerun.cannot", reasons=reasons))
    except OverHourlyCap as cap:
        message = cap.message(settings.tasks_per_hour)
        return _rerun_failed(request, 429, t(message.key, **message.params))
    try:
        record = await start_task(poller, submission, task.notes(), owner=principal.owner)
    except UpstreamError as error:
        reservation.release()
        return _rerun_failed(request, 502, " ".join(t(m.key, **m.params) for m in upstream_messages(error)))
    except SubmissionNotRecorded:
        reservation.release()
        return _rerun_failed(request, 503, t("errors.not_recorded"))
    url = request.url_for("show_task", task_id=record.id).path
    if wants_json(request):
        return JSONResponse({"id": record.id, "url": url, "seed": record.seed}, status_code=201)
    return see_other(request, url)


def _rerun_failed(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


@router.get("/tasks/{task_id}/code/{kind}", name="show_task_code")
async def show_task_code(task: VisibleTaskDep, kind: str, settings: SettingsDep, upstream: UpstreamDep) -> Response:
    """One snippet as a file to save and run (`curl`, `httpx` or `runwayml`)."""
    if kind not in SNIPPET_KINDS:
        raise HTTPException(404, "unknown kind of snippet")
    code = task_snippets(task, settings, upstream)
    if code is None:
        raise HTTPException(404, "no request recorded")
    filename = f"runway-{task.id}.{'sh' if kind == 'curl' else 'py'}"
    return PlainTextResponse(code[kind], headers={"Content-Disposition": f'inline; filename="{filename}"'})
