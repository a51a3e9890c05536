"""The SQLite store's tables beside the tasks."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable

from app.clock import Clock
from app.comparisons import Comparison
from app.storage.interfaces import Share, ShareKind, StoredToken, StoredUpload
from app.storage.rows import _insert, _to_share, _transaction
from app.tasks import (
    TaskRecord,
    record_from_json,
    record_to_json,
)


class SideTables:
    """The SQLite store's tables beside the tasks: API tokens and uploads, submissions in flight,
    comparisons and share links. A mixin of SqliteTaskStore, sharing its connection and lock."""

    # Provided by SqliteTaskStore.
    _clock: Clock
    _locked: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]]
    _written: Callable[[TaskRecord], None]

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
