"""A comparison as its pages and API clients see it: the grid's cells (labels, each task's moment),
the set's summary (cost, layout, how many did not start) and the JSON document.

Plain data for compare.html, share_compare.html and _compare_cell.html; the routers say where each
cell's links point (the console's own routes, or a share link's), so one grid serves both pages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.catalogue import Catalogue
from app.comparisons import Comparison, ComparisonEntry
from app.form_values import Message
from app.i18n import Translator
from app.storage import TaskStore
from app.tasks import TaskRecord
from app.views import task_status_context


@dataclass(frozen=True)
class CellLinks:
    """Where a cell's poll, video and task link point: the comparison's own routes, or a share's."""

    poll: Callable[[int], str]
    video: Callable[[str, int], str]
    task: Callable[[str], str] | None


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
    """Everything the grid's page needs: the cells, whether all have settled, the set's cost."""
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


def playable_cells(context: dict[str, object]) -> list[int]:
    """The indexes of the cells of a comparison_context that have a video to play, in grid order."""
    cells = context["cells"]
    assert isinstance(cells, list)
    return [cell["index"] for cell in cells if cell["video_url"]]


def comparison_json(
    comparison: Comparison, store: TaskStore, t: Translator, *, url: str, task_url: Callable[[str], str]
) -> dict[str, object]:
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
                "url": task_url(entry.task_id) if entry.task_id else None,
                "error": " ".join(t(key, **params) for key, params in entry.error) or None,
            }
        )
    return {
        "id": comparison.id,
        "url": url,
        "createdAt": comparison.created_at,
        "ratio": comparison.ratio,
        "duration": comparison.duration,
        "promptText": comparison.prompt,
        "tasks": comparison.task_ids,
        "entries": entries,
    }
