"""A task on its way upstream: its frames, the checked submission and the body it sends, and the
record a submission becomes (sent, or cut short by the console dying mid-send).

The form and the API build a TaskSubmission (app/intake.py); the poller sends it and stores the
record made here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.catalogue import ModelSpec
from app.tasks import StoredNotes, TaskOrigin, TaskRecord, TaskStatus, response_json, stored_frame
from app.timestamps import utc_iso

# The failure code of a submission the console was killed in the middle of (see interrupted_submission).
INTERRUPTED_FAILURE_CODE = "CONSOLE.SUBMISSION_INTERRUPTED"
INTERRUPTED_ID_PREFIX = "interrupted-"


@dataclass
class Frame:
    """One frame as it goes upstream: a data URI from a stored upload, or an https URL."""

    position: str
    ref: str | None = None
    url: str | None = None
    data_uri: str | None = None

    @property
    def uri(self) -> str:
        return self.data_uri or self.url or ""

    @property
    def stored(self) -> str:
        """How the task record names the frame: a stored-frame reference or the URL itself."""
        return stored_frame(self.ref) if self.ref else (self.url or "")


@dataclass
class TaskSubmission:
    """A checked task, ready to send."""

    model: ModelSpec
    ratio: str
    duration: int
    seed: int
    seed_rolled: bool
    prompt: str
    watermark: bool
    notify_hook: str | None
    frames: list[Frame]

    def upstream_body(self, uri_for: Callable[[Frame], str] = lambda frame: frame.uri) -> dict[str, Any]:
        """The JSON body as the upstream API documents it: promptImage as an array, ints as ints."""
        body: dict[str, Any] = {
            "promptImage": [{"uri": uri_for(f), "position": f.position} for f in self.frames],
            "model": self.model.id,
            "ratio": self.ratio,
            "duration": self.duration,
            "seed": self.seed,
        }
        # The official API refuses fields it does not know: optional ones go only where the catalogue
        # says this upstream takes them.
        if self.model.accepts("watermark"):
            body["watermark"] = self.watermark
        if self.prompt:
            body["promptText"] = self.prompt
        if self.notify_hook and self.model.accepts("notify_hook"):
            body["notify_hook"] = self.notify_hook
        return body

    def stored_body(self) -> dict[str, Any]:
        """The body with each uploaded frame as a stored-frame reference (no megabytes in the database)."""
        return self.upstream_body(lambda frame: frame.stored)

    def frame_at(self, position: str) -> Frame | None:
        return next((f for f in self.frames if f.position == position), None)


def submitted_task(
    task_id: str,
    submission: TaskSubmission,
    *,
    estimated_cost: float | None,
    notes: StoredNotes,
    now: float,
    next_poll_at: float,
    origin: TaskOrigin = TaskOrigin.CONSOLE,
    owner: str | None = None,
    comparison_id: str | None = None,
    response: dict[str, Any] | None = None,
) -> TaskRecord:
    """The record of a task this console just submitted (through the form, or the API for `owner`);
    `response` is the upstream's answer to the create."""
    first, last = submission.frame_at("first"), submission.frame_at("last")
    return TaskRecord(
        id=task_id,
        origin=origin,
        owner=owner,
        created_at=utc_iso(now),
        submitted_at=now,
        status=TaskStatus.PENDING,
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
        notes_json=json.dumps({position: pairs for position, pairs in notes.items() if pairs}),
        estimated_cost=estimated_cost,
        next_poll_at=next_poll_at,
        comparison_id=comparison_id,
        last_response_json=response_json(response),
    )


def interrupted_submission(
    intent_id: str,
    submission: TaskSubmission,
    notes: StoredNotes,
    *,
    now: float,
    origin: TaskOrigin = TaskOrigin.CONSOLE,
    owner: str | None = None,
) -> TaskRecord:
    """What a submission becomes if the console dies while sending it: a failed record under a local id.

    The upstream may or may not have accepted the task (and billed it) before the console died;
    without its id nothing more can be known, so the record says so rather than vanish.
    """
    record = submitted_task(
        f"{INTERRUPTED_ID_PREFIX}{intent_id}",
        submission,
        estimated_cost=None,
        notes=notes,
        now=now,
        next_poll_at=0.0,
        origin=origin,
        owner=owner,
    )
    record.status = TaskStatus.FAILED
    record.failure_code = INTERRUPTED_FAILURE_CODE
    record.finished_at = now
    return record
