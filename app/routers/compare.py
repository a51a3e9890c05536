"""Variations on a task: comparisons (several models and/or seeds from one form), "New seed", and a
task's request as code to run elsewhere."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from app.auth import Gate, Principal, public
from app.catalogue import Catalogue, check_request
from app.codegen import SNIPPET_KINDS, snippets
from app.comparisons import (
    MAX_COMBINATIONS,
    Comparison,
    ComparisonEntry,
    SeedsProblem,
    StoredMessages,
    choose_seeds,
    closest_duration,
    closest_ratio,
    is_comparison_id,
    new_comparison,
    parse_seeds,
    plan,
)
from app.config import Settings
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
    VideosDep,
    VisibleTaskDep,
    get_translator,
)
from app.form_page import errors_json, form_context
from app.form_values import FormErrors, FormValues, Message
from app.forms import parse_task_form
from app.i18n import Translator
from app.intake import FrameIntake
from app.poller import SubmissionNotRecorded, TaskPoller
from app.rendering import is_htmx, render, wants_json
from app.sharing import Sharing
from app.storage import FrameStore, ShareKind, TaskStore
from app.tasks import TaskRecord
from app.upstream import UpstreamClient
from app.upstream_errors import UpstreamError
from app.variations import RerunProblem, combination_submission, launch_comparison, rerun_submission, start_task
from app.views import task_status_context, upstream_messages

router = APIRouter()

CELL_REFRESH_SECONDS = 2
# Short, so a revoked link stops working in shared caches soon too (as a task's shared video).
SHARED_MEDIA_CACHE = "public, max-age=300"
# Where the in-process simulator's requests are shown to go: the same simulator run on its own.
STANDALONE_SIMULATOR_URL = "http://127.0.0.1:8100"


def is_comparison_form(form: FormData) -> bool:
    """More than one model, or any `seeds`: the form asks for a comparison rather than one task."""
    models = {v.strip() for v in form.getlist("model") if isinstance(v, str) and v.strip()}
    seeds = form.get("seeds")
    return len(models) > 1 or (isinstance(seeds, str) and bool(seeds.strip()))


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


async def create_comparison(
    request: Request,
    form: FormData,
    *,
    catalogue: Catalogue,
    settings: Settings,
    store: TaskStore,
    frames: FrameStore,
    poller: TaskPoller,
    intake: FrameIntake,
    gate: Gate,
    principal: Principal,
) -> Response:
    """Check every combination first (all or nothing), then start them and go to the comparison (303)."""
    t = get_translator(request)
    model_ids = list(dict.fromkeys(v.strip() for v in form.getlist("model") if isinstance(v, str) and v.strip()))
    ratio, duration_text, seeds_text = _text(form, "ratio"), _text(form, "duration"), _text(form, "seeds")
    compare_state = {"models": model_ids[1:], "seeds": seeds_text, "open": True}
    errors = FormErrors()

    specs = []
    for model_id in model_ids:
        spec = catalogue.get(model_id)
        if spec is None:
            errors.add("model", Message("errors.model_unknown", {"value": model_id}))
        else:
            specs.append(spec)
    try:
        seed_request = parse_seeds(seeds_text)
    except SeedsProblem as problem:
        errors.add("seeds", Message(f"errors.{problem.code}", problem.params))
        seed_request = None
    duration = int(duration_text) if duration_text.isascii() and duration_text.isdigit() else None

    # The frames, prompt and options are read and checked once, with the first model fitted as it will run.
    first = specs[0] if specs else None
    overrides = {"model": first.id if first else (model_ids[0] if model_ids else "")}
    if first is not None:
        overrides["ratio"] = closest_ratio(first, ratio) or ratio
        if duration is not None:
            overrides["duration"] = str(closest_duration(first, duration))
    base_form = FormData([(k, v) for k, v in form.multi_items() if k not in overrides] + list(overrides.items()))
    values, base, base_errors = await parse_task_form(
        base_form,
        catalogue=catalogue,
        frames=intake,
        max_upload_bytes=settings.max_upload_bytes,
    )
    for name, messages in base_errors.fields.items():
        for message in messages:
            errors.add(name, message)
    errors.general += base_errors.general
    values.model = model_ids[0] if model_ids else values.model
    values.ratio, values.duration = ratio, duration_text

    combinations = []
    if base is not None and duration is not None and specs:
        seeds = choose_seeds(seed_request, None if base.seed_rolled else base.seed)
        combinations = plan(specs, ratio, duration, seeds)
        if len(combinations) > MAX_COMBINATIONS:
            field = "seeds" if seed_request is not None else "model"
            params: dict[str, object] = {
                "count": len(combinations),
                "models": len(specs),
                "seeds": len(seeds),
                "max": MAX_COMBINATIONS,
            }
            errors.add(field, Message("errors.compare_too_many", params))
        positions = [f.position for f in base.frames]
        for spec in specs[1:]:
            issues = check_request(
                catalogue,
                model=spec.id,
                ratio=closest_ratio(spec, ratio) or ratio,
                duration=closest_duration(spec, duration),
                positions=positions,
                prompt=base.prompt,
                seed=None,
            )
            for issue in issues:
                name = f"{issue.params['position']}_frame" if issue.field == "promptImage" else issue.field
                detail = t(f"errors.{issue.code}", **issue.params)
                errors.add(name, Message.raw(t("errors.for_model", model=spec.id, detail=detail)))

    if errors or base is None:
        return _form_errors(request, catalogue, values, errors, compare_state)

    # Each task of the set counts against CONSOLE_TASKS_PER_HOUR: the whole set fits, or none starts.
    reservations: list[float] = []
    for _ in combinations:
        wait, reserved_at = gate.reserve_task(principal)
        if wait is not None:
            for at in reservations:
                gate.release_task(principal, at)
            limit = settings.tasks_per_hour or 0
            errors.general.append(
                Message("errors.tasks_per_hour", {"limit": limit, "minutes": max(1, math.ceil(wait / 60))})
            )
            return _form_errors(request, catalogue, values, errors, compare_state, status_code=429)
        reservations.append(reserved_at)

    comparison = new_comparison(
        combinations, ratio=ratio, duration=duration or 0, prompt=base.prompt, now=poller.clock(), owner=principal.owner
    )
    await launch_comparison(
        comparison,
        [combination_submission(base, c) for c in combinations],
        values.stored_notes(),
        store=store,
        poller=poller,
        describe=_stored_upstream_messages,
    )
    for _ in range(sum(1 for e in comparison.entries if not e.started)):
        gate.release_task(principal, reservations.pop())
    url = request.url_for("show_comparison", comparison_id=comparison.id).path
    if wants_json(request):
        return JSONResponse(comparison_json(comparison, request, store, t), status_code=201)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _stored_upstream_messages(error: UpstreamError) -> StoredMessages:
    return [(m.key, m.params) for m in upstream_messages(error)]


def _form_errors(
    request: Request,
    catalogue: Catalogue,
    values: FormValues,
    errors: FormErrors,
    compare: dict[str, object],
    *,
    status_code: int = 422,
) -> Response:
    if wants_json(request):
        return JSONResponse(errors_json(errors, get_translator(request)), status_code=status_code)
    context = form_context(catalogue, values, errors) | {"compare": compare, "recent": []}
    return render(request, "_form.html" if is_htmx(request) else "index.html", context, status_code=status_code)


def comparison_json(comparison: Comparison, request: Request, store: TaskStore, t: Translator) -> dict[str, object]:
    """A comparison as API clients read it: each combination, its task and status, or why it did not start."""
    entries = []
    for entry in comparison.entries:
        task = store.get(entry.task_id) if entry.task_id else None
        entries.append(
            {
                "model": entry.model,
                "ratio": entry.ratio,
                "duration": entry.duration,
                "seed": entry.seed,
                "adjusted": comparison.adjusted(entry),
                "task": entry.task_id,
                "status": task.status if task else None,
                "url": request.url_for("show_task", task_id=entry.task_id).path if entry.task_id else None,
                "error": " ".join(t(key, **params) for key, params in entry.error) or None,
            }
        )
    return {
        "id": comparison.id,
        "url": request.url_for("show_comparison", comparison_id=comparison.id).path,
        "createdAt": comparison.created_at,
        "ratio": comparison.ratio,
        "duration": comparison.duration,
        "promptText": comparison.prompt,
        "tasks": comparison.task_ids,
        "entries": entries,
    }


def get_visible_comparison(comparison_id: str, store: StoreDep, access: AccessDep) -> Comparison:
    """The stored comparison at {comparison_id}, or 404 when unknown or another's in private history."""
    comparison = store.get_comparison(comparison_id) if is_comparison_id(comparison_id) else None
    viewer = access.viewer
    if comparison is None or not (viewer is None or comparison.owner is None or comparison.owner == viewer):
        raise HTTPException(404, "unknown comparison")
    return comparison


VisibleComparisonDep = Annotated[Comparison, Depends(get_visible_comparison)]


@dataclass(frozen=True)
class CellLinks:
    """Where a cell's poll, video and task link point: the comparison's own routes, or a share's."""

    poll: Callable[[int], str]
    video: Callable[[str, int], str]
    task: Callable[[str], str] | None


def own_links(request: Request, comparison: Comparison) -> CellLinks:
    return CellLinks(
        poll=lambda index: request.url_for("show_comparison_cell", comparison_id=comparison.id, index=index).path,
        video=lambda task_id, _index: request.url_for("serve_video", task_id=task_id).path,
        task=lambda task_id: request.url_for("show_task", task_id=task_id).path,
    )


def cell_context(
    comparison: Comparison, index: int, store: TaskStore, catalogue: Catalogue, now: float, links: CellLinks
) -> dict[str, object]:
    """One cell of the grid: its labels, and its task's moment when it was started."""
    entry: ComparisonEntry = comparison.entries[index]
    task: TaskRecord | None = store.get(entry.task_id) if entry.task_id else None
    context: dict[str, object] = {
        "comparison": comparison,
        "index": index,
        "entry": entry,
        "adjusted": comparison.adjusted(entry),
        "errors": [Message(key, params) for key, params in entry.error],
        "task": task,
        "settled": task.is_settled if task else True,
        "refresh_seconds": CELL_REFRESH_SECONDS,
        "poll_url": links.poll(index),
        "video_url": links.video(task.id, index) if task is not None and task.video_file else None,
        "task_url": links.task(task.id) if task is not None and links.task is not None else None,
    }
    if task is not None:
        context |= task_status_context(task, catalogue, now)
    return context


def comparison_context(
    comparison: Comparison, store: TaskStore, catalogue: Catalogue, now: float, links: CellLinks
) -> dict[str, object]:
    """Everything compare.html needs: the cells, whether all have settled, the set's cost."""
    cells = [cell_context(comparison, i, store, catalogue, now, links) for i in range(len(comparison.entries))]
    amounts = [c["cost"] if c.get("cost") is not None else c.get("estimate") for c in cells if c["task"]]
    known = [float(a) for a in amounts if isinstance(a, int | float)]
    models = list(dict.fromkeys(e.model for e in comparison.entries))
    seeds = list(dict.fromkeys(e.seed for e in comparison.entries))
    return {
        "comparison": comparison,
        "cells": cells,
        "settled": all(c["settled"] for c in cells),
        "total": sum(known) if known else None,
        "all_settled_cost": all(c.get("cost") is not None for c in cells if c["task"]),
        "currency": catalogue.currency,
        # One row per model, one column per seed, when both vary; otherwise as many columns as fit.
        "columns": len(seeds) if len(models) > 1 and len(seeds) > 1 else min(len(cells), 3),
        "models": models,
        "seeds": seeds,
        "failed_to_start": sum(1 for e in comparison.entries if not e.started),
    }


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
        return JSONResponse(comparison_json(comparison, request, store, get_translator(request)))
    context = comparison_context(comparison, store, catalogue, clock(), own_links(request, comparison))
    context |= share_box_context(request, comparison, sharing)
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


@router.post("/tasks/{task_id}/new-seed", name="rerun_with_new_seed")
async def rerun_with_new_seed(
    request: Request,
    task: VisibleTaskDep,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    frames: FramesDep,
    upstream: UpstreamDep,
    poller: PollerDep,
    gate: GateDep,
    principal: PrincipalDep,
) -> Response:
    """Run the task's stored request again with a fresh seed (same frames, same settings); 303 to the new task."""
    t = get_translator(request)
    reserved_at: float | None = None
    try:
        submission = rerun_submission(task, catalogue, frames)
        wait, reserved_at = gate.reserve_task(principal)
        if wait is not None:
            reserved_at = None
            minutes = max(1, math.ceil(wait / 60))
            message = t("errors.tasks_per_hour", limit=settings.tasks_per_hour or 0, minutes=minutes)
            return _rerun_failed(request, 429, message)
        record = await start_task(poller, submission, task.notes(), owner=principal.owner)
    except RerunProblem as problem:
        reasons = " ".join(
            t("errors.rerun_frame_missing" if i.code == "frame_ref_missing" else f"errors.{i.code}", **i.params)
            for i in problem.issues
        )
        return _rerun_failed(request, 422, t("rerun.cannot", reasons=reasons))
    except UpstreamError as error:
        if reserved_at is not None:
            gate.release_task(principal, reserved_at)
        reasons = " ".join(t(m.key, **m.params) for m in upstream_messages(error))
        return _rerun_failed(request, 502, reasons)
    except SubmissionNotRecorded:
        if reserved_at is not None:
            gate.release_task(principal, reserved_at)
        return _rerun_failed(request, 503, t("errors.not_recorded"))
    url = request.url_for("show_task", task_id=record.id).path
    if wants_json(request):
        return JSONResponse({"id": record.id, "url": url, "seed": record.seed}, status_code=201)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _rerun_failed(request: Request, status: int, message: str) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "error.html", {"status": status, "message": message}, status_code=status)


def code_base_url(settings: Settings, upstream: UpstreamClient) -> str:
    """The upstream as a snippet must call it: the in-process simulator is reachable only when run on its own."""
    return STANDALONE_SIMULATOR_URL if settings.uses_simulator else upstream.base_url


def task_snippets(task: TaskRecord, settings: Settings, upstream: UpstreamClient) -> dict[str, str] | None:
    """The task's request as curl, httpx and runwayml code, or None when no request was kept."""
    body = task.request_body()
    if body is None:
        return None
    return snippets(body, base_url=code_base_url(settings, upstream), api_version=upstream.api_version)


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


# --- sharing a comparison (a share row of kind "comparison"; the page is app/routers/share.py's /s/{token}) ---


def shared_links(request: Request, token: str) -> CellLinks:
    """A shared grid polls, and plays videos, under its token only; it links to no task page."""
    return CellLinks(
        poll=lambda index: request.url_for("show_shared_comparison_cell", token=token, index=index).path,
        video=lambda _task_id, index: request.url_for("serve_shared_comparison_video", token=token, index=index).path,
        task=None,
    )


def _cells(context: dict[str, object]) -> list[dict[str, object]]:
    cells = context["cells"]
    assert isinstance(cells, list)
    return cells


def shared_comparison(token: str, sharing: Sharing, store: TaskStore) -> Comparison | None:
    """The comparison a live link points at, or None (malformed, unknown, revoked, a task's link)."""
    share = sharing.resolve(token, ShareKind.COMPARISON)
    return store.get_comparison(share.target_id) if share else None


def _shared_or_404(token: str, sharing: Sharing, store: TaskStore) -> Comparison:
    comparison = shared_comparison(token, sharing, store)
    if comparison is None:
        raise HTTPException(404, "unknown link")
    return comparison


def show_shared_comparison(
    request: Request, token: str, comparison: Comparison, store: TaskStore, catalogue: Catalogue, now: float
) -> Response:
    """The read-only page of a shared comparison: the grid with its synced player, nothing to act on."""
    context = comparison_context(comparison, store, catalogue, now, shared_links(request, token))
    playable = [cell["index"] for cell in _cells(context) if cell["video_url"]]
    context |= {
        "shared": True,
        "page_url": str(request.url_for("show_share", token=token)),
        "preview_video": (
            str(request.url_for("serve_shared_comparison_video", token=token, index=playable[0])) if playable else None
        ),
    }
    return render(request, "share_compare.html", context, headers={"X-Robots-Tag": "noindex"})


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
    comparison = _shared_or_404(token, sharing, store)
    if not 0 <= index < len(comparison.entries):
        raise HTTPException(404, "unknown cell")
    cell = cell_context(comparison, index, store, catalogue, clock(), shared_links(request, token))
    return render(request, "_compare_cell.html", {"cell": cell}, status_code=286 if cell["settled"] else 200)


@router.get("/s/{token}/videos/{index}.mp4", name="serve_shared_comparison_video")
@public
async def serve_shared_comparison_video(
    token: str, index: int, store: StoreDep, sharing: SharingDep, videos: VideosDep
) -> Response:
    """The video of one cell of a shared comparison, from this server's copy (Range requests work)."""
    comparison = _shared_or_404(token, sharing, store)
    entry = comparison.entries[index] if 0 <= index < len(comparison.entries) else None
    task = store.get(entry.task_id) if entry is not None and entry.task_id else None
    path = videos.find(task.id) if task is not None and task.video_file is not None else None
    if path is None:
        raise HTTPException(404, "no video")
    return FileResponse(path, media_type="video/mp4", headers={"Cache-Control": SHARED_MEDIA_CACHE})


def _share_box(request: Request, comparison: Comparison, sharing: Sharing) -> Response:
    if not is_htmx(request):
        url = request.url_for("show_comparison", comparison_id=comparison.id).path + "#share"
        return RedirectResponse(url, status_code=303)
    return render(request, "_compare_share_box.html", share_box_context(request, comparison, sharing))


def share_box_context(request: Request, comparison: Comparison, sharing: Sharing) -> dict[str, object]:
    share = sharing.link_for(ShareKind.COMPARISON, comparison.id)
    url = str(request.url_for("show_share", token=share.token)) if share else None
    return {"comparison": comparison, "share_url": url}


@router.post("/compare/{comparison_id}/share", name="share_comparison")
async def share_comparison(request: Request, comparison: VisibleComparisonDep, sharing: SharingDep) -> Response:
    """Make the comparison's read-only link (or show the one it has)."""
    sharing.share(ShareKind.COMPARISON, comparison.id)
    return _share_box(request, comparison, sharing)


@router.post("/compare/{comparison_id}/share/revoke", name="revoke_comparison_share")
async def revoke_comparison_share(request: Request, comparison: VisibleComparisonDep, sharing: SharingDep) -> Response:
    """Revoke the comparison's link: its page, cells and videos answer 404 from now on."""
    sharing.revoke(ShareKind.COMPARISON, comparison.id)
    return _share_box(request, comparison, sharing)
