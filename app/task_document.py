"""What an upstream task document (the answer to GET /v1/tasks/{id}) means for the console's record:
the record of a task opened here by its id, and the changes each poll brings.

The document comes from outside: a field of the wrong type or an unknown status changes nothing,
and text is cut to what the database keeps.
"""

from __future__ import annotations

from typing import Any

from app.tasks import TERMINAL_STATUSES, TaskOrigin, TaskRecord, TaskStatus, response_json
from app.upstream import task_cost

FAILURE_MAX_CHARS = 2000
FAILURE_CODE_MAX_CHARS = 200
CREATED_AT_MAX_CHARS = 40


def opened_task(task_id: str, document: dict[str, Any], *, now: float, next_poll_at: float) -> TaskRecord:
    """The record of a task created elsewhere, from the upstream's document of it."""
    task = TaskRecord(
        id=task_id,
        origin=TaskOrigin.EXTERNAL,
        created_at=str(document.get("createdAt") or ""),
        submitted_at=now,
        status=TaskStatus.PENDING,
        updated_at=now,
        next_poll_at=next_poll_at,
    )
    for name, value in changes_from_document(task, document, now).items():
        setattr(task, name, value)
    return task


def changes_from_document(task: TaskRecord, data: dict[str, Any], now: float) -> dict[str, Any]:
    """The record changes an upstream task document implies (an unknown status changes nothing)."""
    raw_status = data.get("status")
    status = task.status
    if isinstance(raw_status, str) and raw_status in TaskStatus.__members__:
        status = TaskStatus(raw_status)
    changes: dict[str, Any] = {
        "status": status,
        "last_error": None,
        "poll_failures": 0,
        "last_response_json": response_json(data),
    }
    progress = data.get("progress")
    if isinstance(progress, int | float) and not isinstance(progress, bool):
        changes["progress"] = max(0.0, min(1.0, float(progress)))
    if status == TaskStatus.SUCCEEDED:
        changes["progress"] = 1.0
        output = data.get("output")
        if isinstance(output, list) and output and isinstance(output[0], str):
            changes["output_url"] = output[0]
    if status == TaskStatus.FAILED:
        changes["failure"] = str(data.get("failure") or "")[:FAILURE_MAX_CHARS]
        changes["failure_code"] = str(data.get("failureCode") or "")[:FAILURE_CODE_MAX_CHARS]
    cost = task_cost(data)
    if cost is not None:
        changes["cost"] = cost
    if isinstance(data.get("createdAt"), str):
        changes["created_at"] = data["createdAt"][:CREATED_AT_MAX_CHARS]
    if status in TERMINAL_STATUSES and task.finished_at is None:
        changes["finished_at"] = now
    return changes
