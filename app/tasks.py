"""What a task is, written once: its statuses, its record, how frames are named in it, how it is
built from a submission and how an upstream task document changes it.

Everything above this module (storage, poller, views, routers, templates) uses these names instead
of spelling statuses, the frame reference format or the record's fields again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from app.catalogue import ModelSpec
from app.timestamps import utc_iso
from app.upstream import task_cost

TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# A task whose video download failed this often settles; its page offers the CDN link instead.
MAX_DOWNLOAD_ATTEMPTS = 5
FAILURE_MAX_CHARS = 2000
FAILURE_CODE_MAX_CHARS = 200
CREATED_AT_MAX_CHARS = 40
# The failure code of a submission the console was killed in the middle of (see interrupted_submission).
INTERRUPTED_FAILURE_CODE = "CONSOLE.SUBMISSION_INTERRUPTED"
INTERRUPTED_ID_PREFIX = "interrupted-"


class TaskStatus(StrEnum):
    """The upstream's task statuses; the values are what the API, the database and the JSON carry."""

    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_STATUSES = frozenset({TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING})
TERMINAL_STATUSES = frozenset({TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED})


class TaskOrigin(StrEnum):
    CONSOLE = "console"  # submitted through this console's form
    EXTERNAL = "external"  # created elsewhere, opened here by its id
    API = "api"  # submitted through this console's Runway-compatible API, by a token


TOKEN_OWNER_PREFIX = "token:"
# A visitor's tasks (CONSOLE_VISITOR_KEYS) run on that visitor's key, never the server's (app/visitor_keys.py).
VISITOR_OWNER_PREFIX = "visitor:"


def token_owner(name: str) -> str:
    """The owner of the tasks an API token submits (owners are kind-prefixed, like "account:…")."""
    return f"{TOKEN_OWNER_PREFIX}{name}"


def is_task_id(text: str) -> bool:
    return bool(TASK_ID_PATTERN.match(text))


# --- stored frames ------------------------------------------------------------------------------

FRAME_PREFIX = "frame:"


def stored_frame(ref: str) -> str:
    """How a record names a frame kept in the frame store (the URL itself names any other)."""
    return f"{FRAME_PREFIX}{ref}"


def frame_ref(stored: str | None) -> str | None:
    """The frame store's ref in a stored frame name, or None when it is a URL (or nothing)."""
    if stored and stored.startswith(FRAME_PREFIX):
        return stored.removeprefix(FRAME_PREFIX)
    return None


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


# --- the record -------------------------------------------------------------------------------------

StoredNotes = dict[str, list[tuple[str, dict[str, Any]]]]
"""Notes about prepared frames by position: (message key, parameters) pairs."""


@dataclass
class TaskRecord:
    """One task as the console knows it."""

    id: str
    origin: TaskOrigin
    created_at: str
    submitted_at: float
    status: TaskStatus
    updated_at: float
    model: str | None = None
    ratio: str | None = None
    duration: int | None = None
    seed: int | None = None
    seed_rolled: bool = False
    prompt: str | None = None
    watermark: bool | None = None
    notify_hook: str | None = None
    first_frame: str | None = None
    last_frame: str | None = None
    request_json: str | None = None
    notes_json: str | None = None
    estimated_cost: float | None = None
    cost: float | None = None
    progress: float | None = None
    failure: str | None = None
    failure_code: str | None = None
    output_url: str | None = None
    video_file: str | None = None
    video_error: str | None = None
    download_attempts: int = 0
    last_error: str | None = None
    poll_failures: int = 0
    gone: bool = False
    # Consecutive 404s and when the first of them came: a task is gone only after enough of both.
    not_found_polls: int = 0
    not_found_since: float | None = None
    next_poll_at: float = 0.0
    finished_at: float | None = None
    # Who the task belongs to; an API task's is token_owner(name of the token).
    owner: str | None = None

    @property
    def token_name(self) -> str | None:
        """The name of the API token that submitted the task, if one did."""
        if self.owner and self.owner.startswith(TOKEN_OWNER_PREFIX):
            return self.owner.removeprefix(TOKEN_OWNER_PREFIX)
        return None
    # The comparison this task was started in, if any (app/comparisons.py).
    comparison_id: str | None = None
    # The upstream's last answer about this task (create or poll), as JSON, with the key scrubbed.
    last_response_json: str | None = None
    # The media cache's bookkeeping (app/media.py): the poster beside the video, the video's size
    # for the cache cap, when a page last showed it, and when the cap evicted it.
    poster_file: str | None = None
    poster_failed: bool = False
    video_bytes: int | None = None
    last_viewed_at: float | None = None
    evicted_at: float | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES and not self.gone

    @property
    def awaits_video(self) -> bool:
        return (
            self.status == TaskStatus.SUCCEEDED
            and self.video_file is None
            and self.evicted_at is None
            and not self.gone
            and self.download_attempts < MAX_DOWNLOAD_ATTEMPTS
        )

    @property
    def is_settled(self) -> bool:
        """Nothing more will change: the page can stop polling."""
        return not self.is_active and not self.awaits_video

    @property
    def is_evicted(self) -> bool:
        """The video was fetched once and later dropped from the cache to keep under its cap."""
        return self.evicted_at is not None and self.video_file is None

    @property
    def video_expired(self) -> bool:
        """The video was in the cache once, and the upstream no longer has the task to fetch it again."""
        return self.gone and self.video_file is None and self.video_bytes is not None

    @property
    def frame_refs(self) -> dict[str, str | None]:
        """The frame store ref of each position's frame (None for a URL or no frame)."""
        return {"first": frame_ref(self.first_frame), "last": frame_ref(self.last_frame)}

    def request_body(self) -> dict[str, Any] | None:
        """The stored request body, stored-frame references included, or None when none was kept."""
        return json.loads(self.request_json) if self.request_json else None

    def notes(self) -> StoredNotes:
        return json.loads(self.notes_json) if self.notes_json else {}

    def last_response(self) -> dict[str, Any] | None:
        """The upstream's last answer about this task, or None when none was kept."""
        return json.loads(self.last_response_json) if self.last_response_json else None


TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))


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
        last_response_json=_document_json(response),
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


def record_to_json(record: TaskRecord) -> str:
    return json.dumps({name: getattr(record, name) for name in TASK_FIELDS}, ensure_ascii=False)


def record_from_json(text: str) -> TaskRecord:
    data = json.loads(text)
    known = {name: data[name] for name in TASK_FIELDS if name in data}
    known["status"] = TaskStatus(known["status"])
    known["origin"] = TaskOrigin(known["origin"])
    return TaskRecord(**known)


def _document_json(document: dict[str, Any] | None) -> str | None:
    return json.dumps(document, ensure_ascii=False) if document is not None else None


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
        "last_response_json": _document_json(data),
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
