"""The embedded task store: SQLite behind one lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.clock import Clock, system_clock
from app.storage.interfaces import CostLine, CostTotals, ShareKind, TaskFilter, Visibility, visible_to
from app.storage.migrations import DEFAULT_BUSY_TIMEOUT, open_database
from app.storage.rows import _conditions, _insert, _to_record, _transaction
from app.storage.side_tables import SideTables
from app.tasks import (
    ACTIVE_STATUSES,
    MAX_DOWNLOAD_ATTEMPTS,
    TASK_FIELDS,
    TaskRecord,
    TaskStatus,
    stored_frame,
)


class SqliteTaskStore(SideTables):
    """The embedded task store: SQLite behind one lock; each call is a short statement, safe from any thread."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock = system_clock,
        on_write: Callable[[str, Mapping[str, Any]], None] | None = None,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self._clock = clock
        # Told (task id, fields written) after each write: app.versions keeps the status pages' versions.
        self._on_write = on_write
        self._db = open_database(path, busy_timeout)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()

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
