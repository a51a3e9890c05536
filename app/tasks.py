"""What a task is, written once: its statuses, its owners, how frames are named in it, and its record.

Everything above this module (storage, poller, views, routers, templates) uses these names instead
of spelling statuses, the frame reference format or the record's fields again. How a record is
made from a submission lives in app/task_submission.py, and from an upstream document in
app/task_document.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
# A task whose video download failed this often settles; its page offers the CDN link instead.
MAX_DOWNLOAD_ATTEMPTS = 5


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
    def token_name(self) -> str | None:
        """The name of the API token that submitted the task, if one did."""
        if self.owner and self.owner.startswith(TOKEN_OWNER_PREFIX):
            return self.owner.removeprefix(TOKEN_OWNER_PREFIX)
        return None

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

    def request_body(self, frame_uri: Callable[[str], str] | None = None) -> dict[str, Any] | None:
        """The stored request body, or None when none was kept; its frames are stored-frame references,
        unless `frame_uri` is given: then each is replaced by frame_uri(the frame store's ref)."""
        body = json.loads(self.request_json) if self.request_json else None
        if body is not None and frame_uri is not None:
            for image in body.get("promptImage", []):
                ref = frame_ref(image.get("uri", ""))
                if ref:
                    image["uri"] = frame_uri(ref)
        return body

    def notes(self) -> StoredNotes:
        return json.loads(self.notes_json) if self.notes_json else {}

    def last_response(self) -> dict[str, Any] | None:
        """The upstream's last answer about this task, or None when none was kept."""
        return json.loads(self.last_response_json) if self.last_response_json else None


TASK_FIELDS = tuple(f.name for f in fields(TaskRecord))


def record_to_json(record: TaskRecord) -> str:
    return json.dumps({name: getattr(record, name) for name in TASK_FIELDS}, ensure_ascii=False)


def record_from_json(text: str) -> TaskRecord:
    data = json.loads(text)
    known = {name: data[name] for name in TASK_FIELDS if name in data}
    known["status"] = TaskStatus(known["status"])
    known["origin"] = TaskOrigin(known["origin"])
    return TaskRecord(**known)


def response_json(document: dict[str, Any] | None) -> str | None:
    """How a record keeps an upstream answer (read back by TaskRecord.last_response)."""
    return json.dumps(document, ensure_ascii=False) if document is not None else None
