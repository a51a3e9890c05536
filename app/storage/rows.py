"""Rows to records and back, filters to SQL, and the transaction helper the SQLite store shares."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from app.storage.interfaces import BOOLEAN_COLUMNS, Share, ShareKind, TaskFilter, Visibility
from app.tasks import (
    TASK_FIELDS,
    TaskOrigin,
    TaskRecord,
    TaskStatus,
)


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
