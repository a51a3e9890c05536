"""Task documents in the Runway API's own shape, for the console's API clients.

The official SDK picks a task's Python type from these fields (Pending, Throttled, Running need
`estimatedCost`; Succeeded, Failed, Cancelled need `cost`), so every status carries exactly what
its type requires. A finished task is reported SUCCEEDED only once this console holds its video, so
the `output` URL it gives (on the console's origin) never 404s; until then it is RUNNING at 99 %.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from app.catalogue import Catalogue
from app.tasks import TaskRecord, TaskStatus

# Where a finished task stands while the console still downloads its video.
CACHING_PROGRESS = 0.99
GONE_FAILURE = "The upstream no longer knows this task."
GONE_FAILURE_CODE = "INTERNAL"


def estimated_credits(task: TaskRecord, catalogue: Catalogue) -> float:
    """The upstream's estimate, else the catalogue's price in credits, else 0 (unknown)."""
    if task.estimated_cost is not None:
        return task.estimated_cost
    spec = catalogue.get(task.model or "")
    if catalogue.currency == "credits" and spec is not None and task.duration is not None:
        price = spec.price(task.duration)
        if price is not None:
            return price
    return 0.0


def _final_credits(task: TaskRecord, catalogue: Catalogue) -> int:
    """The cost the upstream reported; without one, a success costs its estimate and anything else 0."""
    if task.cost is not None and math.isfinite(task.cost):
        return round(task.cost)
    if task.status == TaskStatus.SUCCEEDED:
        return round(estimated_credits(task, catalogue))
    return 0


def task_document(task: TaskRecord, catalogue: Catalogue, output_url: Callable[[TaskRecord], str]) -> dict[str, Any]:
    """The task as GET /v1/tasks/{id} answers it. `output_url` makes the URL of the cached video."""
    document: dict[str, Any] = {"id": task.id, "createdAt": task.created_at}
    if task.status == TaskStatus.SUCCEEDED and task.video_file is not None:
        return document | {
            "status": "SUCCEEDED",
            "output": [output_url(task)],
            "cost": {"credits": _final_credits(task, catalogue)},
        }
    if task.status == TaskStatus.SUCCEEDED and task.awaits_video:
        return document | {
            "status": "RUNNING",
            "progress": CACHING_PROGRESS,
            "estimatedCost": {"credits": estimated_credits(task, catalogue)},
        }
    if task.status == TaskStatus.SUCCEEDED:
        # The console gave up downloading it: the upstream's own (signed, expiring) link is all there is.
        return document | {
            "status": "SUCCEEDED",
            "output": [task.output_url] if task.output_url else [],
            "cost": {"credits": _final_credits(task, catalogue)},
        }
    if task.gone and task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
        return document | {
            "status": "FAILED",
            "failure": GONE_FAILURE,
            "failureCode": GONE_FAILURE_CODE,
            "cost": {"credits": 0},
        }
    if task.status == TaskStatus.FAILED:
        failed: dict[str, Any] = {
            "status": "FAILED",
            "failure": task.failure or "The task failed.",
            "cost": {"credits": _final_credits(task, catalogue)},
        }
        if task.failure_code:
            failed["failureCode"] = task.failure_code
        return document | failed
    if task.status == TaskStatus.CANCELLED:
        return document | {"status": "CANCELLED", "cost": {"credits": _final_credits(task, catalogue)}}
    active: dict[str, Any] = {
        "status": task.status.value,
        "estimatedCost": {"credits": estimated_credits(task, catalogue)},
    }
    if task.status == TaskStatus.RUNNING:
        active["progress"] = min(task.progress or 0.0, CACHING_PROGRESS)
    return document | active
