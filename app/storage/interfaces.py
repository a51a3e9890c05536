"""What the console asks of its store, and the value types that cross it: the SQLite store implements
these, and another store (a server database) could."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from app.comparisons import Comparison
from app.tasks import (
    TaskRecord,
    TaskStatus,
)

FRAME_REF_PATTERN = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp)$")


MIME_BY_EXTENSION = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


BOOLEAN_COLUMNS = {"seed_rolled", "watermark", "gone", "poster_failed"}


# LIKE's own wildcards in a search text are matched literally.
LIKE_ESCAPE = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


class TaskStore(Protocol):
    """Where task records live. SQLite implements it; a server database could too."""

    def insert(self, record: TaskRecord) -> None:
        """Add a record, replacing one with the same id."""

    def get(self, task_id: str) -> TaskRecord | None: ...

    def update(self, task_id: str, **changes: Any) -> None:
        """Change some fields of a record; `updated_at` defaults to now."""

    def due(self, now: float, limit: int = 50) -> list[TaskRecord]:
        """Tasks the poller should look at now: unfinished, or finished but without a video yet."""

    def recent(self, limit: int = 10, *, viewer: str | None = None) -> list[TaskRecord]:
        """The latest submitted tasks, newest first; with a `viewer`, only those it may see.

        A viewer (an owner id, see app/access.py) sees its own tasks and those without an owner.
        """

    def frame_visible(self, ref: str, viewer: str | None) -> bool:
        """Whether a stored frame may be shown to `viewer`: used by a task it may see, or by none."""

    def active_by_model(self) -> dict[str, int]:
        """How many unfinished tasks each model has."""

    def begin_submission(self, intent_id: str, interrupted: TaskRecord) -> None:
        """Note, before the upstream is called, a submission in progress and what it becomes if we die."""

    def finish_submission(self, intent_id: str, record: TaskRecord | None) -> None:
        """The submission ended: forget it and, in the same transaction, add its task (None: refused)."""

    def recover_submissions(self, now: float, intent_id: str | None = None) -> list[TaskRecord]:
        """Turn submissions still noted as in progress (all, or one) into their interrupted records."""

    def count(self, where: TaskFilter, visibility: Visibility) -> int:
        """How many tasks the viewer may see match the filter."""

    def listing(self, where: TaskFilter, visibility: Visibility, *, limit: int, offset: int = 0) -> list[TaskRecord]:
        """One page of the matching tasks the viewer may see, newest first."""

    def by_ids(self, task_ids: Sequence[str], visibility: Visibility) -> list[TaskRecord]:
        """Those of the given tasks that exist and the viewer may see, newest first."""

    def models(self, visibility: Visibility) -> list[str]:
        """The models of the tasks the viewer may see."""

    def cost_totals(self, where: TaskFilter, visibility: Visibility) -> CostTotals:
        """Credits spent on the matching tasks the viewer may see, by day (UTC) and by model."""

    def delete(self, task_id: str) -> None:
        """Remove a task's record and every share of it."""

    def frame_in_use(self, stored: str) -> bool:
        """Whether any task still names this frame (a stored-frame reference or a URL)."""

    def cached_videos(self) -> list[TaskRecord]:
        """Tasks whose video is in the cache, least recently viewed first."""

    def insert_comparison(self, comparison: Comparison) -> None:
        """Add a comparison, or replace its entries once its tasks have been started."""

    def get_comparison(self, comparison_id: str) -> Comparison | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoredToken:
    name: str
    token_sha256: str
    created_at: float


@dataclass(frozen=True)
class StoredUpload:
    id: str
    owner: str
    filename: str
    frame_ref: str | None
    created_at: float
    expires_at: float


class ApiStore(Protocol):
    """What the Runway-compatible API keeps: token hashes, per-minute counts, uploads."""

    def add_token(self, name: str, token_sha256: str) -> None:
        """Raises KeyError when the name is taken."""

    def remove_token(self, name: str) -> bool: ...

    def tokens(self) -> list[StoredToken]: ...

    def count_request(self, name: str, window: int) -> int:
        """Count one request of `name` in minute `window`; returns the count so far in it."""

    def add_upload(self, upload: StoredUpload) -> None: ...

    def get_upload(self, upload_id: str) -> StoredUpload | None: ...

    def fill_upload(self, upload_id: str, frame_ref: str) -> bool:
        """Attach the received file; False when the upload was already filled (URLs are one-time)."""

    def forget_uploads(self, before: float) -> int:
        """Drop uploads that expired before `before`."""


class ShareStore(Protocol):
    """Read-only links: an unguessable token that points at a task or a comparison."""

    def active_share(self, kind: ShareKind, target_id: str) -> Share | None: ...

    def add_share(self, share: Share) -> Share:
        """Store a new link, or return the live one the target already has (one per target)."""

    def share(self, token: str) -> Share | None:
        """The live (not revoked) link with this token."""

    def revoke_shares(self, kind: ShareKind, target_id: str, now: float) -> int:
        """Revoke the target's live links; returns how many there were."""


class ShareKind(StrEnum):
    """What a share link points at: a task, or a comparison of several (issue 8 item 4)."""

    TASK = "task"
    COMPARISON = "comparison"


@dataclass(frozen=True)
class Share:
    token: str
    kind: ShareKind
    target_id: str
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class Visibility:
    """Which task rows a viewer may see: a condition over the tasks table and its parameters.

    Every listing takes one, so none can show more than its viewer may see. EVERY_TASK is the
    console without accounts; an owner-aware condition is built where owners are known.
    """

    condition: str = "1 = 1"
    params: tuple[object, ...] = ()


EVERY_TASK = Visibility()


def visible_to(viewer: str | None) -> Visibility:
    """What an owner sees (see app/access.py): its own tasks and those from before owners; None sees all."""
    if viewer is None:
        return EVERY_TASK
    return Visibility("(owner IS NULL OR owner = ?)", (viewer,))


@dataclass(frozen=True)
class TaskFilter:
    """What the gallery narrows the tasks to: statuses, one model, words in the prompt."""

    statuses: frozenset[TaskStatus] = frozenset()
    model: str | None = None
    text: str = ""

    def sql(self) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.statuses:
            clauses.append(f"status IN ({', '.join('?' for _ in self.statuses)})")
            params.extend(sorted(self.statuses))
        if self.model:
            clauses.append("model = ?")
            params.append(self.model)
        if self.text:
            clauses.append("prompt LIKE ? ESCAPE '\\'")
            params.append(f"%{self.text.translate(LIKE_ESCAPE)}%")
        return " AND ".join(clauses) or "1 = 1", params


@dataclass(frozen=True)
class CostLine:
    key: str
    tasks: int
    credits: float


@dataclass(frozen=True)
class CostTotals:
    """Credits by day and by model; a task without a reported cost counts its estimate if it succeeded."""

    tasks: int
    credits: float
    by_day: list[CostLine] = field(default_factory=list)
    by_model: list[CostLine] = field(default_factory=list)
