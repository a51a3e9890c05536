"""The database schema, moved forward by numbered migrations recorded in `PRAGMA user_version`, each
applied at start-up in one transaction, so a column added later reaches databases made earlier."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

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


DEFAULT_BUSY_TIMEOUT = 5.0


def open_database(path: Path, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> sqlite3.Connection:
    """A connection to the console's database, in autocommit mode, with the schema brought up to date.

    WAL lets the task store and the auth store share the file. synchronous=NORMAL: in WAL mode a
    commit then waits for no disk flush (the poller writes progress every few seconds), and the file
    stays consistent whatever happens; only a power cut, not a crash of the console, can lose the last
    commits, which the poller reads again from the upstream. A write waits up to `busy_timeout` seconds
    for another connection's write (another console on the same file) before it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(f"PRAGMA busy_timeout={round(busy_timeout * 1000)}")
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


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
