"""Task documents for API clients (app/api_documents.py), checked with the official SDK's own types."""

from __future__ import annotations

import pydantic
import pytest
from runwayml.types.task_retrieve_response import (
    Cancelled,
    Failed,
    Pending,
    Running,
    Succeeded,
    TaskRetrieveResponse,
    Throttled,
)

from app.api_documents import task_document
from app.catalogue import load_catalogue
from app.tasks import TaskOrigin, TaskRecord, TaskStatus

CATALOGUE = load_catalogue()
ADAPTER: pydantic.TypeAdapter = pydantic.TypeAdapter(TaskRetrieveResponse)


def record(status: TaskStatus, **fields: object) -> TaskRecord:
    values: dict = {
        "id": "t1",
        "origin": TaskOrigin.API,
        "created_at": "2026-11-28T12:00:00.000Z",
        "submitted_at": 0.0,
        "status": status,
        "updated_at": 0.0,
        "model": "gen4_turbo",
        "duration": 10,
    }
    return TaskRecord(**(values | fields))


def typed(task: TaskRecord):
    return ADAPTER.validate_python(task_document(task, CATALOGUE, lambda t: f"https://console.example/v/{t.id}"))


@pytest.mark.parametrize(
    ("task", "kind"),
    [
        (record(TaskStatus.PENDING), Pending),
        (record(TaskStatus.THROTTLED), Throttled),
        (record(TaskStatus.RUNNING, progress=0.4), Running),
        (record(TaskStatus.SUCCEEDED, video_file="t1.mp4"), Succeeded),
        (record(TaskStatus.FAILED, failure="no", failure_code="SAFETY.INPUT.TEXT"), Failed),
        (record(TaskStatus.CANCELLED), Cancelled),
    ],
)
def test_every_status_is_the_sdk_type_of_that_status(task, kind):
    assert isinstance(typed(task), kind)


def test_costs_come_from_the_upstream_else_the_catalogue():
    assert typed(record(TaskStatus.PENDING)).estimated_cost.credits == 50
    assert typed(record(TaskStatus.PENDING, estimated_cost=12.5)).estimated_cost.credits == 12.5
    assert typed(record(TaskStatus.SUCCEEDED, video_file="t1.mp4")).cost.credits == 50
    assert typed(record(TaskStatus.SUCCEEDED, video_file="t1.mp4", cost=0.0)).cost.credits == 0
    assert typed(record(TaskStatus.FAILED, failure="x")).cost.credits == 0
    assert typed(record(TaskStatus.PENDING, model="unknown-model")).estimated_cost.credits == 0


def test_a_success_whose_video_is_still_downloading_is_running_at_99_percent():
    task = typed(record(TaskStatus.SUCCEEDED, output_url="https://cdn.example/x.mp4"))
    assert isinstance(task, Running) and task.progress == pytest.approx(0.99)
    running = typed(record(TaskStatus.RUNNING, progress=1.0))
    assert running.progress <= 0.99  # 100 % only with the video


def test_the_output_is_the_consoles_copy_or_after_giving_up_the_upstream_link():
    assert typed(record(TaskStatus.SUCCEEDED, video_file="t1.mp4")).output == ["https://console.example/v/t1"]
    gave_up = record(TaskStatus.SUCCEEDED, output_url="https://cdn.example/x.mp4", download_attempts=5)
    assert typed(gave_up).output == ["https://cdn.example/x.mp4"]


def test_a_task_the_upstream_lost_is_failed():
    task = typed(record(TaskStatus.RUNNING, gone=True))
    assert isinstance(task, Failed) and task.failure_code == "INTERNAL"
