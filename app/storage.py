"""State on disk: the task store (SQLite by default, behind the TaskStore interface) and stored frames.

The database schema moves forward by numbered migrations recorded in `PRAGMA user_version`, applied
at start-up in one transaction each, so a column added later reaches databases made earlier.
"""

from __future__ import annotations

import base64
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from app.clock import Clock, system_clock
from app.comparisons import Comparison
from app.files import write_atomically
from app.tasks import (
    ACTIVE_STATUSES,
    MAX_DOWNLOAD_ATTEMPTS,
    TASK_FIELDS,
    TaskOrigin,
    TaskRecord,
    TaskStatus,
    record_from_json,
    record_to_json,
    stored_frame,
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

        A viewer (an owner id, see app/auth.py) sees its own tasks and those without an owner.
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
    """What an owner sees (see app/auth.py): its own tasks and those from before owners; None sees all."""
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


# Each migration is a list of statements run in one transaction; its number is its index + 1.
# Never edit one that has shipped: add the next instead.
MIGRATIONS: tuple[Sequence[str], ...] = (
    # 1: the schema as of 0.1.0. "IF NOT EXISTS" adopts a database written before migrations
    # existed (user_version 0, the same table and index already there).
    (
        """CREATE TABLE IF NOT EXISTS tasks (
            id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            created_at TEXT NOT NULL,
            submitted_at REAL NOT NULL,
            model TEXT,
            ratio TEXT,
            duration INTEGER,
            seed INTEGER,
            seed_rolled INTEGER NOT NULL DEFAULT 0,
            prompt TEXT,
            watermark INTEGER,
            notify_hook TEXT,
            first_frame TEXT,
            last_frame TEXT,
            request_json TEXT,
            notes_json TEXT,
            estimated_cost REAL,
            cost REAL,
            status TEXT NOT NULL,
            progress REAL,
            failure TEXT,
            failure_code TEXT,
            output_url TEXT,
            video_file TEXT,
            video_error TEXT,
            download_attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            poll_failures INTEGER NOT NULL DEFAULT 0,
            gone INTEGER NOT NULL DEFAULT 0,
            next_poll_at REAL NOT NULL DEFAULT 0,
            updated_at REAL NOT NULL,
            finished_at REAL
        )""",
        "CREATE INDEX IF NOT EXISTS tasks_by_submission ON tasks (submitted_at DESC)",
    ),
    # 2: a 404 is counted, not believed at once (CONSOLE_GONE_AFTER_404S / _SECONDS).
    (
        "ALTER TABLE tasks ADD COLUMN not_found_polls INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN not_found_since REAL",
    ),
    # 3: the Runway-compatible API: who submitted a task, the tokens made by `runway-console token add`
    # (their hashes only), each token's requests in the current minute, and uploads waiting to be used.
    (
        "ALTER TABLE tasks ADD COLUMN owner TEXT",
        """CREATE TABLE api_tokens (
            name TEXT PRIMARY KEY,
            token_sha256 TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE api_rate (
            name TEXT PRIMARY KEY,
            minute INTEGER NOT NULL,
            count INTEGER NOT NULL
        )""",
        """CREATE TABLE api_uploads (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            filename TEXT NOT NULL,
            frame_ref TEXT,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )""",
    ),
    # 4: who may use the console (issue 6). Owners index the history (NULL: a task from before owners,
    # seen by the whole team); accounts, sessions, login failures and task starts live here so
    # replicas can share them.
    (
        "CREATE INDEX tasks_by_owner ON tasks (owner, submitted_at DESC)",
        "CREATE INDEX tasks_by_first_frame ON tasks (first_frame)",
        "CREATE INDEX tasks_by_last_frame ON tasks (last_frame)",
        """CREATE TABLE accounts (
            name TEXT PRIMARY KEY COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            account TEXT COLLATE NOCASE,
            proof TEXT,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX sessions_by_account ON sessions (account)",
        """CREATE TABLE login_failures (
            client TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_at REAL NOT NULL,
            blocked_until REAL NOT NULL
        )""",
        "CREATE TABLE task_starts (owner TEXT NOT NULL, at REAL NOT NULL)",
        "CREATE INDEX task_starts_by_owner ON task_starts (owner, at)",
    ),
    # 5: submissions in progress, written before the upstream is called, so a console killed while
    # sending leaves a trace (an "interrupted" task) rather than nothing.
    (
        """CREATE TABLE submissions (
            id TEXT PRIMARY KEY,
            started_at REAL NOT NULL,
            interrupted_json TEXT NOT NULL
        )""",
    ),
    # 6: comparisons (several models and/or seeds from one form), the link of a task to its comparison,
    # and the upstream's last answer about each task (shown to developers as it came).
    (
        """CREATE TABLE comparisons (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            submitted_at REAL NOT NULL,
            ratio TEXT NOT NULL,
            duration INTEGER NOT NULL,
            prompt TEXT NOT NULL,
            entries_json TEXT NOT NULL,
            owner TEXT
        )""",
        "ALTER TABLE tasks ADD COLUMN comparison_id TEXT",
        "CREATE INDEX tasks_by_comparison ON tasks (comparison_id) WHERE comparison_id IS NOT NULL",
        "ALTER TABLE tasks ADD COLUMN last_response_json TEXT",
    ),
    # 7: the gallery (filters by status and model), the media cache's bookkeeping (posters, sizes,
    # views, evictions), and share links.
    (
        "ALTER TABLE tasks ADD COLUMN poster_file TEXT",
        "ALTER TABLE tasks ADD COLUMN poster_failed INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE tasks ADD COLUMN video_bytes INTEGER",
        "ALTER TABLE tasks ADD COLUMN last_viewed_at REAL",
        "ALTER TABLE tasks ADD COLUMN evicted_at REAL",
        # Newest first with the id as tie-breaker: pages come straight off an index, no sort.
        "CREATE INDEX tasks_by_newest ON tasks (submitted_at DESC, id DESC)",
        "CREATE INDEX tasks_by_status ON tasks (status, submitted_at DESC, id DESC)",
        "CREATE INDEX tasks_by_model ON tasks (model, submitted_at DESC, id DESC)",
        # Covers the cost totals: they scan this small index instead of the wide rows.
        "CREATE INDEX tasks_cost_lines ON tasks (submitted_at, model, status, cost, estimated_cost)",
        "CREATE INDEX tasks_cached_by_view ON tasks (last_viewed_at) WHERE video_file IS NOT NULL",
        """CREATE TABLE shares (
            token TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            target_id TEXT NOT NULL,
            created_at REAL NOT NULL,
            revoked_at REAL
        )""",
        "CREATE UNIQUE INDEX shares_live_by_target ON shares (kind, target_id) WHERE revoked_at IS NULL",
    ),
)

DATABASE_NAME = "console.db"


def database_path(data_dir: Path) -> Path:
    """The one SQLite file of a data dir: tasks, accounts, sessions, counters."""
    return data_dir / DATABASE_NAME


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer console; this one must not write to it."""


def migrate(db: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema up to date; returns the version it is at. `db` must be in autocommit mode."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > len(migrations):
        raise SchemaTooNew(f"the database has schema version {version}; this console knows up to {len(migrations)}")
    for number in range(version + 1, len(migrations) + 1):
        # IMMEDIATE: a second console starting on the same file waits instead of migrating twice.
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] >= number:
                db.execute("ROLLBACK")
                continue
            for statement in migrations[number - 1]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return len(migrations)


class SqliteTaskStore:
    """The embedded task store: SQLite behind one lock; each call is a short statement, safe from any thread."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = system_clock,
        on_write: Callable[[str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        # Told (task id, fields written) after each write: app.versions keeps the status pages' versions.
        self._on_write = on_write
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._locked() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")
            self.schema_version = migrate(db)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._locked() as db:
            db.close()

    def insert(self, record: TaskRecord) -> None:
        with self._locked() as db:
            _insert(db, record)
        self._written(record)

    def _written(self, record: TaskRecord) -> None:
        if self._on_write is not None:
            self._on_write(record.id, {name: getattr(record, name) for name in TASK_FIELDS})

    def get(self, task_id: str) -> TaskRecord | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _to_record(row) if row else None

    def update(self, task_id: str, **changes: Any) -> None:
        unknown = set(changes) - set(TASK_FIELDS)
        if unknown:
            raise ValueError(f"unknown task fields: {sorted(unknown)}")
        changes.setdefault("updated_at", self._clock())
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._locked() as db:
            db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", [*changes.values(), task_id])
        if self._on_write is not None:
            self._on_write(task_id, changes)

    def due(self, now: float, limit: int = 50) -> list[TaskRecord]:
        active = sorted(ACTIVE_STATUSES)
        with self._locked() as db:
            rows = db.execute(
                f"""SELECT * FROM tasks
                    WHERE gone = 0 AND next_poll_at <= ?
                      AND (status IN ({", ".join("?" for _ in active)})
                           OR (status = ? AND video_file IS NULL AND evicted_at IS NULL
                               AND download_attempts < ?))
                    ORDER BY next_poll_at LIMIT ?""",
                (now, *active, TaskStatus.SUCCEEDED, MAX_DOWNLOAD_ATTEMPTS, limit),
            ).fetchall()
        return [_to_record(r) for r in rows]

    def recent(self, limit: int = 10, *, viewer: str | None = None) -> list[TaskRecord]:
        return self.listing(TaskFilter(), visible_to(viewer), limit=limit)

    def frame_visible(self, ref: str, viewer: str | None) -> bool:
        if viewer is None:
            return True
        stored = stored_frame(ref)
        with self._locked() as db:
            owners = [
                row[0]
                for row in db.execute(
                    "SELECT owner FROM tasks WHERE first_frame = ? UNION SELECT owner FROM tasks WHERE last_frame = ?",
                    (stored, stored),
                )
            ]
        # A frame no task uses yet (the form kept it after a refusal) is named by its content hash:
        # only someone who had the image can ask for it.
        return not owners or any(owner is None or owner == viewer for owner in owners)

    def active_by_model(self) -> dict[str, int]:
        active = sorted(ACTIVE_STATUSES)
        with self._locked() as db:
            rows = db.execute(
                f"""SELECT model, COUNT(*) FROM tasks
                    WHERE gone = 0 AND model IS NOT NULL AND status IN ({", ".join("?" for _ in active)})
                    GROUP BY model""",
                active,
            ).fetchall()
        return {row[0]: int(row[1]) for row in rows}

    # --- the API's own state -------------------------------------------------------------------

    def add_token(self, name: str, token_sha256: str) -> None:
        try:
            with self._locked() as db:
                db.execute(
                    "INSERT INTO api_tokens (name, token_sha256, created_at) VALUES (?, ?, ?)",
                    (name, token_sha256, self._clock()),
                )
        except sqlite3.IntegrityError:
            raise KeyError(name) from None

    def remove_token(self, name: str) -> bool:
        with self._locked() as db:
            return db.execute("DELETE FROM api_tokens WHERE name = ?", (name,)).rowcount > 0

    def tokens(self) -> list[StoredToken]:
        with self._locked() as db:
            rows = db.execute("SELECT name, token_sha256, created_at FROM api_tokens ORDER BY name").fetchall()
        return [StoredToken(r["name"], r["token_sha256"], r["created_at"]) for r in rows]

    def count_request(self, name: str, window: int) -> int:
        # One statement: two consoles on the same file count together, and a new minute resets.
        with self._locked() as db:
            row = db.execute(
                """INSERT INTO api_rate (name, minute, count) VALUES (?, ?, 1)
                   ON CONFLICT (name) DO UPDATE SET
                     count = CASE WHEN minute = excluded.minute THEN count + 1 ELSE 1 END,
                     minute = excluded.minute
                   RETURNING count""",
                (name, window),
            ).fetchone()
        return int(row[0])

    def add_upload(self, upload: StoredUpload) -> None:
        with self._locked() as db:
            db.execute(
                """INSERT INTO api_uploads (id, owner, filename, frame_ref, created_at, expires_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (upload.id, upload.owner, upload.filename, upload.frame_ref, upload.created_at, upload.expires_at),
            )

    def get_upload(self, upload_id: str) -> StoredUpload | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM api_uploads WHERE id = ?", (upload_id,)).fetchone()
        return StoredUpload(**{key: row[key] for key in row.keys()}) if row else None

    def fill_upload(self, upload_id: str, frame_ref: str) -> bool:
        with self._locked() as db:
            changed = db.execute(
                "UPDATE api_uploads SET frame_ref = ? WHERE id = ? AND frame_ref IS NULL", (frame_ref, upload_id)
            ).rowcount
        return changed > 0

    def forget_uploads(self, before: float) -> int:
        with self._locked() as db:
            return db.execute("DELETE FROM api_uploads WHERE expires_at < ?", (before,)).rowcount
    def begin_submission(self, intent_id: str, interrupted: TaskRecord) -> None:
        with self._locked() as db:
            db.execute(
                "INSERT INTO submissions (id, started_at, interrupted_json) VALUES (?, ?, ?)",
                (intent_id, interrupted.submitted_at, record_to_json(interrupted)),
            )

    def finish_submission(self, intent_id: str, record: TaskRecord | None) -> None:
        with self._locked() as db, _transaction(db):
            db.execute("DELETE FROM submissions WHERE id = ?", (intent_id,))
            if record is not None:
                _insert(db, record)
        if record is not None:
            self._written(record)

    def recover_submissions(self, now: float, intent_id: str | None = None) -> list[TaskRecord]:
        recovered = []
        query = "SELECT id, interrupted_json FROM submissions ORDER BY started_at"
        parameters: tuple[str, ...] = ()
        if intent_id is not None:
            query, parameters = "SELECT id, interrupted_json FROM submissions WHERE id = ?", (intent_id,)
        with self._locked() as db, _transaction(db):
            for row in db.execute(query, parameters).fetchall():
                record = record_from_json(row["interrupted_json"])
                record.updated_at = record.finished_at = now
                _insert(db, record)
                db.execute("DELETE FROM submissions WHERE id = ?", (row["id"],))
                recovered.append(record)
        for record in recovered:
            self._written(record)
        return recovered

    def insert_comparison(self, comparison: Comparison) -> None:
        with self._locked() as db:
            db.execute(
                """INSERT OR REPLACE INTO comparisons
                   (id, created_at, submitted_at, ratio, duration, prompt, entries_json, owner)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    comparison.id,
                    comparison.created_at,
                    comparison.submitted_at,
                    comparison.ratio,
                    comparison.duration,
                    comparison.prompt,
                    comparison.entries_json(),
                    comparison.owner,
                ),
            )

    def get_comparison(self, comparison_id: str) -> Comparison | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM comparisons WHERE id = ?", (comparison_id,)).fetchone()
        if row is None:
            return None
        return Comparison(
            id=row["id"],
            created_at=row["created_at"],
            submitted_at=row["submitted_at"],
            ratio=row["ratio"],
            duration=row["duration"],
            prompt=row["prompt"],
            entries=Comparison.entries_from_json(row["entries_json"]),
            owner=row["owner"],
        )


    def count(self, where: TaskFilter, visibility: Visibility) -> int:
        condition, params = _conditions(where, visibility)
        with self._locked() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM tasks WHERE {condition}", params).fetchone()[0])

    def listing(self, where: TaskFilter, visibility: Visibility, *, limit: int, offset: int = 0) -> list[TaskRecord]:
        condition, params = _conditions(where, visibility)
        order = "ORDER BY submitted_at DESC, id DESC"
        with self._locked() as db:
            # The page's rowids first (skipping `offset` entries of an index), then only their whole rows.
            rows = db.execute(
                f"""SELECT * FROM tasks WHERE rowid IN (
                        SELECT rowid FROM tasks WHERE {condition} {order} LIMIT ? OFFSET ?
                    ) {order}""",
                [*params, limit, offset],
            ).fetchall()
        return [_to_record(r) for r in rows]

    def by_ids(self, task_ids: Sequence[str], visibility: Visibility) -> list[TaskRecord]:
        if not task_ids:
            return []
        marks = ", ".join("?" for _ in task_ids)
        with self._locked() as db:
            rows = db.execute(
                f"""SELECT * FROM tasks WHERE id IN ({marks}) AND ({visibility.condition})
                    ORDER BY submitted_at DESC, id DESC""",
                [*task_ids, *visibility.params],
            ).fetchall()
        return [_to_record(r) for r in rows]

    def models(self, visibility: Visibility) -> list[str]:
        with self._locked() as db:
            rows = db.execute(
                f"SELECT DISTINCT model FROM tasks WHERE model IS NOT NULL AND ({visibility.condition}) ORDER BY model",
                visibility.params,
            ).fetchall()
        return [r[0] for r in rows]

    def cost_totals(self, where: TaskFilter, visibility: Visibility) -> CostTotals:
        condition, params = _conditions(where, visibility)
        spent = "COALESCE(cost, CASE WHEN status = ? THEN estimated_cost END, 0)"
        # One pass over the rows, grouped by day and model together; both totals are folded from it.
        with self._locked() as db:
            groups = db.execute(
                f"""SELECT CAST(submitted_at / 86400 AS INTEGER), COALESCE(model, ''), COUNT(*), SUM({spent})
                    FROM tasks WHERE {condition} GROUP BY 1, 2""",
                [TaskStatus.SUCCEEDED, *params],
            ).fetchall()
        days: dict[str, list[float]] = {}
        models: dict[str, list[float]] = {}
        for day_number, model, count, credits in groups:
            day = datetime.fromtimestamp(day_number * 86400, UTC).date().isoformat()  # the UTC day
            for key, table in ((day, days), (model, models)):
                line = table.setdefault(key, [0, 0.0])
                line[0] += count
                line[1] += credits
        by_day = [CostLine(key, int(n), c) for key, (n, c) in sorted(days.items(), reverse=True)]
        by_model = [CostLine(key, int(n), c) for key, (n, c) in sorted(models.items(), key=lambda i: (-i[1][1], i[0]))]
        return CostTotals(
            tasks=sum(line.tasks for line in by_day),
            credits=sum(line.credits for line in by_day),
            by_day=by_day,
            by_model=by_model,
        )

    def delete(self, task_id: str) -> None:
        with self._locked() as db, _transaction(db):
            db.execute("DELETE FROM shares WHERE kind = ? AND target_id = ?", (ShareKind.TASK, task_id))
            db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
        if self._on_write is not None:
            self._on_write(task_id, {"deleted": True})

    def frame_in_use(self, stored: str) -> bool:
        with self._locked() as db:
            row = db.execute(
                "SELECT 1 FROM tasks WHERE first_frame = ? UNION ALL SELECT 1 FROM tasks WHERE last_frame = ? LIMIT 1",
                (stored, stored),
            ).fetchone()
        return row is not None

    def cached_videos(self) -> list[TaskRecord]:
        with self._locked() as db:
            rows = db.execute(
                """SELECT * FROM tasks WHERE video_file IS NOT NULL
                   ORDER BY COALESCE(last_viewed_at, finished_at, submitted_at), id"""
            ).fetchall()
        return [_to_record(r) for r in rows]

    # --- share links --------------------------------------------------------------------------

    def active_share(self, kind: ShareKind, target_id: str) -> Share | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT * FROM shares WHERE kind = ? AND target_id = ? AND revoked_at IS NULL", (kind, target_id)
            ).fetchone()
        return _to_share(row) if row else None

    def add_share(self, share: Share) -> Share:
        with self._locked() as db:
            # The partial unique index keeps one live link per target, also against a concurrent request.
            db.execute(
                """INSERT INTO shares (token, kind, target_id, created_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT DO NOTHING""",
                (share.token, share.kind, share.target_id, share.created_at),
            )
            row = db.execute(
                "SELECT * FROM shares WHERE kind = ? AND target_id = ? AND revoked_at IS NULL",
                (share.kind, share.target_id),
            ).fetchone()
        return _to_share(row)

    def share(self, token: str) -> Share | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM shares WHERE token = ? AND revoked_at IS NULL", (token,)).fetchone()
        return _to_share(row) if row else None

    def revoke_shares(self, kind: ShareKind, target_id: str, now: float) -> int:
        with self._locked() as db:
            cursor = db.execute(
                "UPDATE shares SET revoked_at = ? WHERE kind = ? AND target_id = ? AND revoked_at IS NULL",
                (now, kind, target_id),
            )
        return cursor.rowcount


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _insert(db: sqlite3.Connection, record: TaskRecord) -> None:
    values = [getattr(record, name) for name in TASK_FIELDS]
    placeholders = ", ".join("?" for _ in TASK_FIELDS)
    db.execute(f"INSERT OR REPLACE INTO tasks ({', '.join(TASK_FIELDS)}) VALUES ({placeholders})", values)


def _conditions(where: TaskFilter, visibility: Visibility) -> tuple[str, list[object]]:
    condition, params = where.sql()
    return f"({condition}) AND ({visibility.condition})", [*params, *visibility.params]


def _to_share(row: sqlite3.Row) -> Share:
    return Share(row["token"], ShareKind(row["kind"]), row["target_id"], row["created_at"], row["revoked_at"])


def _to_record(row: sqlite3.Row) -> TaskRecord:
    data = {key: row[key] for key in row.keys() if key in TASK_FIELDS}
    for key in BOOLEAN_COLUMNS:
        if data.get(key) is not None:
            data[key] = bool(data[key])
    data["status"] = TaskStatus(data["status"])
    data["origin"] = TaskOrigin(data["origin"])
    return TaskRecord(**data)


class FrameStore:
    """Prepared frames, content-addressed so a re-rendered form can refer to them by name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def save(self, data: bytes, sha256: str, extension: str) -> str:
        ref = f"{sha256}.{extension}"
        path = self.folder / ref
        if not path.exists():
            write_atomically(path, data)
        return ref

    def path(self, ref: str) -> Path | None:
        """The file for a ref, or None when the ref is malformed or unknown."""
        if not FRAME_REF_PATTERN.match(ref):
            return None
        path = self.folder / ref
        return path if path.is_file() else None

    def remove(self, ref: str) -> None:
        """Delete a stored frame (a malformed or unknown ref is ignored)."""
        path = self.path(ref)
        if path is not None:
            path.unlink(missing_ok=True)

    def data_uri(self, ref: str) -> str:
        """The frame as the data URI that goes upstream; FileNotFoundError when it is not stored."""
        path = self.path(ref)
        if path is None:
            raise FileNotFoundError(ref)
        return f"data:{self.mime(ref)};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

    @staticmethod
    def mime(ref: str) -> str:
        return MIME_BY_EXTENSION[ref.rsplit(".", 1)[1]]
