"""State on disk: tasks in SQLite, frames and videos as files under the data dir."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

from app.files import write_atomically

ACTIVE_STATUSES = ("PENDING", "THROTTLED", "RUNNING")
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED", "CANCELLED")
MAX_DOWNLOAD_ATTEMPTS = 5
FRAME_REF_PATTERN = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp)$")
TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
MIME_BY_EXTENSION = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
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
);
CREATE INDEX IF NOT EXISTS tasks_by_submission ON tasks (submitted_at DESC);
"""


@dataclass
class TaskRecord:
    """One task as the console knows it; `origin` is 'console' or 'external' (opened by id)."""

    id: str
    origin: str
    created_at: str
    submitted_at: float
    status: str
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
    next_poll_at: float = 0.0
    finished_at: float | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES and not self.gone

    @property
    def awaits_video(self) -> bool:
        return (
            self.status == "SUCCEEDED"
            and self.video_file is None
            and not self.gone
            and self.download_attempts < MAX_DOWNLOAD_ATTEMPTS
        )

    @property
    def is_settled(self) -> bool:
        """Nothing more will change: the page can stop polling."""
        return not self.is_active and not self.awaits_video


COLUMNS = tuple(f.name for f in fields(TaskRecord))
BOOLEAN_COLUMNS = {"seed_rolled", "watermark", "gone"}


class TaskStore:
    """SQLite access behind one lock; each call is a short statement, safe from any thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._locked() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._locked() as db:
            db.close()

    def insert(self, record: TaskRecord) -> None:
        values = [getattr(record, c) for c in COLUMNS]
        placeholders = ", ".join("?" for _ in COLUMNS)
        with self._locked() as db:
            db.execute(
                f"INSERT OR REPLACE INTO tasks ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                values,
            )

    def get(self, task_id: str) -> TaskRecord | None:
        with self._locked() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _to_record(row) if row else None

    def update(self, task_id: str, **changes: object) -> None:
        unknown = set(changes) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown task columns: {sorted(unknown)}")
        changes.setdefault("updated_at", time.time())
        assignments = ", ".join(f"{name} = ?" for name in changes)
        with self._locked() as db:
            db.execute(f"UPDATE tasks SET {assignments} WHERE id = ?", [*changes.values(), task_id])

    def due(self, now: float, limit: int = 50) -> list[TaskRecord]:
        """Tasks the poller should look at now: unfinished, or finished but without a video."""
        with self._locked() as db:
            rows = db.execute(
                f"""SELECT * FROM tasks
                    WHERE gone = 0 AND next_poll_at <= ?
                      AND (status IN ({", ".join("?" for _ in ACTIVE_STATUSES)})
                           OR (status = 'SUCCEEDED' AND video_file IS NULL AND download_attempts < ?))
                    ORDER BY next_poll_at LIMIT ?""",
                (now, *ACTIVE_STATUSES, MAX_DOWNLOAD_ATTEMPTS, limit),
            ).fetchall()
        return [_to_record(r) for r in rows]

    def recent(self, limit: int = 10) -> list[TaskRecord]:
        with self._locked() as db:
            rows = db.execute(
                "SELECT * FROM tasks ORDER BY submitted_at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_to_record(r) for r in rows]


def _to_record(row: sqlite3.Row) -> TaskRecord:
    data = {key: row[key] for key in row.keys() if key in COLUMNS}
    for key in BOOLEAN_COLUMNS:
        if data.get(key) is not None:
            data[key] = bool(data[key])
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

    @staticmethod
    def mime(ref: str) -> str:
        return MIME_BY_EXTENSION[ref.rsplit(".", 1)[1]]


class VideoStore:
    """Downloaded results, one mp4 per task id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path_for(self, task_id: str) -> Path:
        if not TASK_ID_PATTERN.match(task_id):
            raise ValueError("not a task id")
        return self.folder / f"{task_id}.mp4"
