"""Who may use the console, kept in the store: accounts, sessions, login failures and task starts.

Everything several console processes would have to agree on lives in the database (the same SQLite
file as the tasks, schema from app/storage/migrations.py), never in process memory, so replicas
over one database share logins, lockouts and hourly caps. Passwords are stored as argon2 hashes
made by app/passwords.py; session ids are stored as hashes of the cookie's token.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.clock import Clock, system_clock
from app.storage import DEFAULT_BUSY_TIMEOUT, open_database


@dataclass(frozen=True)
class Account:
    name: str
    created_at: float


@dataclass(frozen=True)
class StoredSession:
    id: str
    kind: str
    account: str | None
    # For a team-password session: a keyed fingerprint of the password used, so changing
    # CONSOLE_PASSWORD ends the sessions opened with the old one.
    proof: str | None
    created_at: float
    expires_at: float


@dataclass(frozen=True)
class FailureRecord:
    failures: int
    last_at: float
    blocked_until: float


class AuthStore(Protocol):
    def add_account(self, name: str, password_hash: str) -> bool:
        """Create an account; False when the name is taken (names are case-insensitive)."""

    def set_password(self, name: str, password_hash: str) -> bool:
        """Replace an account's password and end its sessions; False when there is no such account."""

    def remove_account(self, name: str) -> bool:
        """Delete an account and every session it had; False when there is no such account."""

    def accounts(self) -> list[Account]: ...

    def has_accounts(self) -> bool: ...

    def password_hash(self, name: str) -> tuple[str, str] | None:
        """(the account's name as stored, its hash), or None."""

    def update_hash(self, name: str, password_hash: str) -> None:
        """Store a rehash of the same password (after the hash parameters changed)."""

    def add_session(self, session: StoredSession) -> None: ...

    def session(self, session_id: str, now: float) -> StoredSession | None:
        """A live session, or None when unknown or expired."""

    def remove_session(self, session_id: str) -> None: ...

    def failures(self, client: str) -> FailureRecord | None: ...

    def set_failures(self, client: str, record: FailureRecord) -> None: ...

    def clear_failures(self, client: str) -> None: ...

    def reserve_task_start(self, owner: str, now: float, limit: int, window: float) -> float | None:
        """Count a task start for `owner` if fewer than `limit` started in the last `window` seconds.

        Returns None when counted, else the seconds until the oldest start leaves the window.
        """

    def release_task_start(self, owner: str, at: float) -> None:
        """Take back a reservation whose task never reached the upstream."""

    def prune(self, now: float, keep_failures_for: float, window: float) -> None:
        """Forget expired sessions, stale failure counts and task starts older than the window."""

    def close(self) -> None: ...


class SqliteAuthStore:
    """AuthStore over the console's SQLite file (its own connection; WAL lets it share with the task store)."""

    def __init__(self, path: Path, *, clock: Clock = system_clock, busy_timeout: float = DEFAULT_BUSY_TIMEOUT) -> None:
        self._clock = clock
        self._db = open_database(path, busy_timeout)
        self._lock = threading.Lock()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: another process counting at the same time waits its turn."""
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        with self._locked() as db:
            db.close()

    # --- accounts -------------------------------------------------------------------------------

    def add_account(self, name: str, password_hash: str) -> bool:
        with self._locked() as db:
            try:
                db.execute(
                    "INSERT INTO accounts (name, password_hash, created_at) VALUES (?, ?, ?)",
                    (name, password_hash, self._clock()),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def set_password(self, name: str, password_hash: str) -> bool:
        with self._transaction() as db:
            changed = db.execute("UPDATE accounts SET password_hash = ? WHERE name = ?", (password_hash, name))
            db.execute("DELETE FROM sessions WHERE account = ?", (name,))
        return changed.rowcount > 0

    def update_hash(self, name: str, password_hash: str) -> None:
        with self._locked() as db:
            db.execute("UPDATE accounts SET password_hash = ? WHERE name = ?", (password_hash, name))

    def remove_account(self, name: str) -> bool:
        with self._transaction() as db:
            removed = db.execute("DELETE FROM accounts WHERE name = ?", (name,))
            db.execute("DELETE FROM sessions WHERE account = ?", (name,))
        return removed.rowcount > 0

    def accounts(self) -> list[Account]:
        with self._locked() as db:
            rows = db.execute("SELECT name, created_at FROM accounts ORDER BY name COLLATE NOCASE").fetchall()
        return [Account(name, created_at) for name, created_at in rows]

    def has_accounts(self) -> bool:
        with self._locked() as db:
            return db.execute("SELECT 1 FROM accounts LIMIT 1").fetchone() is not None

    def password_hash(self, name: str) -> tuple[str, str] | None:
        with self._locked() as db:
            row = db.execute("SELECT name, password_hash FROM accounts WHERE name = ?", (name,)).fetchone()
        return (row[0], row[1]) if row else None

    # --- sessions -------------------------------------------------------------------------------

    def add_session(self, session: StoredSession) -> None:
        with self._locked() as db:
            db.execute(
                "INSERT INTO sessions (id, kind, account, proof, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (session.id, session.kind, session.account, session.proof, session.created_at, session.expires_at),
            )

    def session(self, session_id: str, now: float) -> StoredSession | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT id, kind, account, proof, created_at, expires_at FROM sessions WHERE id = ? AND expires_at > ?",
                (session_id, now),
            ).fetchone()
        return StoredSession(*row) if row else None

    def remove_session(self, session_id: str) -> None:
        with self._locked() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    # --- login failures -------------------------------------------------------------------------

    def failures(self, client: str) -> FailureRecord | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT failures, last_at, blocked_until FROM login_failures WHERE client = ?", (client,)
            ).fetchone()
        return FailureRecord(*row) if row else None

    def set_failures(self, client: str, record: FailureRecord) -> None:
        with self._locked() as db:
            db.execute(
                "INSERT OR REPLACE INTO login_failures (client, failures, last_at, blocked_until) VALUES (?, ?, ?, ?)",
                (client, record.failures, record.last_at, record.blocked_until),
            )

    def clear_failures(self, client: str) -> None:
        with self._locked() as db:
            db.execute("DELETE FROM login_failures WHERE client = ?", (client,))

    # --- hourly caps ----------------------------------------------------------------------------

    def reserve_task_start(self, owner: str, now: float, limit: int, window: float) -> float | None:
        with self._transaction() as db:
            db.execute("DELETE FROM task_starts WHERE owner = ? AND at <= ?", (owner, now - window))
            starts = [
                row[0]
                for row in db.execute(
                    "SELECT at FROM task_starts WHERE owner = ? AND at > ? ORDER BY at", (owner, now - window)
                )
            ]
            if len(starts) >= limit:
                return max(1.0, starts[len(starts) - limit] + window - now)
            db.execute("INSERT INTO task_starts (owner, at) VALUES (?, ?)", (owner, now))
        return None

    def release_task_start(self, owner: str, at: float) -> None:
        with self._locked() as db:
            db.execute(
                "DELETE FROM task_starts WHERE rowid = "
                "(SELECT rowid FROM task_starts WHERE owner = ? AND at = ? LIMIT 1)",
                (owner, at),
            )

    def prune(self, now: float, keep_failures_for: float, window: float) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            db.execute(
                "DELETE FROM login_failures WHERE last_at < ? AND blocked_until < ?", (now - keep_failures_for, now)
            )
            db.execute("DELETE FROM task_starts WHERE at <= ?", (now - window,))
