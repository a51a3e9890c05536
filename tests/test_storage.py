"""The task store and its migrations, including adopting a data dir written before migrations existed."""

from __future__ import annotations

import base64
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.storage import MIGRATIONS, SchemaTooNew, SqliteTaskStore, migrate
from app.tasks import TaskOrigin, TaskStatus, frame_ref

FIXTURE = Path(__file__).parent / "fixtures" / "data-v0"
FIXTURE_STATUSES = {
    "fixture-1-pending": TaskStatus.PENDING,
    "fixture-2-running": TaskStatus.RUNNING,
    "fixture-3-succeeded": TaskStatus.SUCCEEDED,
    "fixture-4-failed": TaskStatus.FAILED,
    "fixture-5-cancelled": TaskStatus.CANCELLED,
    "fixture-6-external": TaskStatus.SUCCEEDED,
}


@pytest.fixture
def old_data_dir(tmp_path: Path) -> Path:
    """A copy of the data dir the code before migrations wrote (user_version 0)."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "data"))


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def test_the_fixture_is_a_database_from_before_migrations():
    assert user_version(FIXTURE / "console.db") == 0


def test_a_database_from_before_migrations_is_adopted_with_every_task(old_data_dir):
    store = SqliteTaskStore(old_data_dir / "console.db")
    try:
        assert user_version(old_data_dir / "console.db") == len(MIGRATIONS)
        tasks = {t.id: t for t in store.recent(100)}
        assert {i: t.status for i, t in tasks.items()} == FIXTURE_STATUSES
        assert tasks["fixture-6-external"].origin == TaskOrigin.EXTERNAL and tasks["fixture-6-external"].gone
        done = tasks["fixture-3-succeeded"]
        assert done.video_file == "fixture-3-succeeded.mp4" and done.is_settled
        for task in tasks.values():
            for ref in filter(None, task.frame_refs.values()):
                assert (old_data_dir / "frames" / ref).is_file()
        assert [t.id for t in store.due(now=2e9)] == ["fixture-1-pending", "fixture-2-running"]
    finally:
        store.close()


def test_opening_an_up_to_date_database_again_changes_nothing(tmp_path):
    SqliteTaskStore(tmp_path / "console.db").close()
    before = (tmp_path / "console.db").read_bytes()
    SqliteTaskStore(tmp_path / "console.db").close()
    assert user_version(tmp_path / "console.db") == len(MIGRATIONS)
    assert (tmp_path / "console.db").read_bytes() == before


def test_a_database_from_a_newer_console_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "console.db") as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew):
        SqliteTaskStore(tmp_path / "console.db")


def test_a_failing_migration_leaves_the_database_at_the_last_good_version(tmp_path):
    db = sqlite3.connect(tmp_path / "console.db", isolation_level=None)
    later = ("ALTER TABLE tasks ADD COLUMN shiny TEXT", "SELECT * FROM no_such_table")
    with pytest.raises(sqlite3.OperationalError):
        migrate(db, (*MIGRATIONS, later))
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    columns = [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    assert "shiny" not in columns
    db.close()


def test_a_new_migration_reaches_an_existing_database(old_data_dir):
    db = sqlite3.connect(old_data_dir / "console.db", isolation_level=None)
    assert migrate(db, (*MIGRATIONS, ("ALTER TABLE tasks ADD COLUMN shiny TEXT",))) == len(MIGRATIONS) + 1
    assert "shiny" in [row[1] for row in db.execute("PRAGMA table_info(tasks)")]
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == len(FIXTURE_STATUSES)
    db.close()


def test_updates_are_stamped_with_the_injected_clock(tmp_path, old_data_dir):
    store = SqliteTaskStore(old_data_dir / "console.db", clock=lambda: 1234.5)
    try:
        store.update("fixture-1-pending", progress=0.25)
        task = store.get("fixture-1-pending")
        assert task is not None and (task.progress, task.updated_at) == (0.25, 1234.5)
    finally:
        store.close()


def test_the_console_serves_every_page_video_frame_and_request_of_an_old_data_dir(
    old_data_dir, open_console: Callable[..., Any]
):
    console = open_console(CONSOLE_DATA_DIR=old_data_dir)
    history = console.get("/tasks").text
    for task_id in FIXTURE_STATUSES:
        assert task_id in history
        assert console.get(f"/tasks/{task_id}").status_code == 200
    video = console.get("/tasks/fixture-3-succeeded/video.mp4")
    assert video.content == (old_data_dir / "videos" / "fixture-3-succeeded.mp4").read_bytes()
    body = console.get("/tasks/fixture-3-succeeded/request.json").json()
    for image in body["promptImage"]:
        frame = sorted((old_data_dir / "frames").iterdir())
        raw = base64.b64decode(image["uri"].split(",", 1)[1])
        assert raw in [f.read_bytes() for f in frame]
    page = console.get("/tasks/fixture-3-succeeded").text
    with sqlite3.connect(old_data_dir / "console.db") as db:
        stored = db.execute("SELECT first_frame FROM tasks WHERE id = 'fixture-3-succeeded'").fetchone()[0]
    ref = frame_ref(stored)
    assert ref and f"/frames/{ref}" in page
    assert console.get(f"/frames/{ref}").content == (old_data_dir / "frames" / ref).read_bytes()


def test_tasks_from_before_owners_have_none_and_every_viewer_sees_them(old_data_dir):
    store = SqliteTaskStore(old_data_dir / "console.db")
    try:
        assert all(task.owner is None for task in store.recent(100))
        assert len(store.recent(100, viewer="account:alice")) == len(FIXTURE_STATUSES)
        ref = next(filter(None, store.get("fixture-3-succeeded").frame_refs.values()))
        assert store.frame_visible(ref, "account:alice")
    finally:
        store.close()


def test_a_viewer_sees_its_own_tasks_and_frames_not_anothers(old_data_dir):
    store = SqliteTaskStore(old_data_dir / "console.db")
    try:
        mine = store.get("fixture-3-succeeded")
        ref = next(filter(None, mine.frame_refs.values()))
        store.update(mine.id, owner="account:alice")
        assert mine.id in [t.id for t in store.recent(100, viewer="account:alice")]
        assert mine.id not in [t.id for t in store.recent(100, viewer="account:bob")]
        assert mine.id in [t.id for t in store.recent(100)]
        others_using = [t for t in store.recent(100) if ref in t.frame_refs.values() and t.id != mine.id]
        for task in others_using:
            store.update(task.id, owner="account:alice")
        assert store.frame_visible(ref, "account:alice") and not store.frame_visible(ref, "account:bob")
        assert store.frame_visible("f" * 64 + ".png", "account:bob")  # used by no task: named by its hash
    finally:
        store.close()
