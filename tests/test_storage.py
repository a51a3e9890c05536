"""The task store and its migrations, including adopting a data dir written before migrations existed."""

from __future__ import annotations

import base64
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.storage import (
    EVERY_TASK,
    MIGRATIONS,
    CostLine,
    SchemaTooNew,
    Share,
    ShareKind,
    SqliteTaskStore,
    TaskFilter,
    Visibility,
    migrate,
    open_database,
)
from app.tasks import TaskOrigin, TaskRecord, TaskStatus, frame_ref
from app.timestamps import utc_iso

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


def test_a_write_waits_for_another_writer_as_long_as_it_is_told(tmp_path):
    assert open_database(tmp_path / "console.db").execute("PRAGMA busy_timeout").fetchone() == (5000,)
    waiting = open_database(tmp_path / "console.db", busy_timeout=0.05)
    blocker = sqlite3.connect(tmp_path / "console.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        assert waiting.execute("PRAGMA busy_timeout").fetchone() == (50,)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            waiting.execute("INSERT INTO tasks (id) VALUES ('t')")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        waiting.close()


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
# --- listings: filters, pages, totals, visibility (the gallery's queries) -----------------------

DAY = 86400.0
START = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def record(task_id: str, at: float, **fields: Any) -> TaskRecord:
    values: dict[str, Any] = {"status": TaskStatus.SUCCEEDED, "model": "gen4_turbo", "prompt": "waves", **fields}
    return TaskRecord(
        id=task_id, origin=TaskOrigin.CONSOLE, created_at=utc_iso(at), submitted_at=at, updated_at=at, **values
    )


@pytest.fixture
def store(tmp_path) -> Iterator[SqliteTaskStore]:
    opened = SqliteTaskStore(tmp_path / "console.db")
    yield opened
    opened.close()


@pytest.fixture
def listed(store: SqliteTaskStore) -> SqliteTaskStore:
    """Six tasks over two days: two models, every kind of ending, costs reported or only estimated."""
    for task in (
        record("a", START, prompt="Waves roll in", cost=25.0),
        record("b", START + 60, model="gen3a_turbo", prompt="a cat walks", cost=50.0),
        record("c", START + 120, status=TaskStatus.FAILED, prompt="100% sure_thing", cost=0.0, estimated_cost=25.0),
        record("d", START + DAY, status=TaskStatus.RUNNING, prompt="waves at night", estimated_cost=25.0),
        record("e", START + DAY + 60, prompt="WAVES, loud", estimated_cost=10.0),
        record("f", START + DAY + 120, status=TaskStatus.CANCELLED, model=None, prompt=None),
    ):
        store.insert(task)
    return store


def ids(tasks: list[TaskRecord]) -> list[str]:
    return [t.id for t in tasks]


@pytest.mark.parametrize(
    "where, expected",
    [
        (TaskFilter(), ["f", "e", "d", "c", "b", "a"]),
        (TaskFilter(statuses=frozenset({TaskStatus.SUCCEEDED})), ["e", "b", "a"]),
        (TaskFilter(statuses=frozenset({TaskStatus.FAILED, TaskStatus.RUNNING})), ["d", "c"]),
        (TaskFilter(model="gen3a_turbo"), ["b"]),
        (TaskFilter(text="waves"), ["e", "d", "a"]),  # any case, anywhere in the prompt
        (TaskFilter(text="100%"), ["c"]),  # LIKE's wildcards match only themselves
        (TaskFilter(text="e_t"), ["c"]),
        (TaskFilter(text="%"), ["c"]),
        (TaskFilter(statuses=frozenset({TaskStatus.SUCCEEDED}), model="gen4_turbo", text="waves"), ["e", "a"]),
        (TaskFilter(model="no-such-model"), []),
    ],
)
def test_listing_filters_by_status_model_and_prompt_words_newest_first(listed, where, expected):
    assert ids(listed.listing(where, EVERY_TASK, limit=50)) == expected
    assert listed.count(where, EVERY_TASK) == len(expected)


def test_pages_follow_each_other_without_gaps_or_repeats(store):
    for number in range(23):
        # Two tasks per second: ties on submitted_at are ordered by id, so pages stay stable.
        store.insert(record(f"t{number:02d}", START + number // 2))
    pages = [ids(store.listing(TaskFilter(), EVERY_TASK, limit=5, offset=offset)) for offset in range(0, 25, 5)]
    flat = [task_id for page in pages for task_id in page]
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert sorted(flat) == sorted(f"t{n:02d}" for n in range(23)) and len(set(flat)) == 23
    assert flat[:3] == ["t22", "t21", "t20"]


def test_cost_totals_by_day_and_by_model_count_estimates_only_for_successes(listed):
    totals = listed.cost_totals(TaskFilter(), EVERY_TASK)
    # a 25 + b 50 + c 0 (refunded); d running: nothing yet; e succeeded without a cost: its estimate 10.
    assert (totals.tasks, totals.credits) == (6, 85.0)
    assert totals.by_day == [CostLine("2027-01-16", 3, 10.0), CostLine("2027-01-15", 3, 75.0)]
    assert totals.by_model == [
        CostLine("gen3a_turbo", 1, 50.0), CostLine("gen4_turbo", 4, 35.0), CostLine("", 1, 0.0)
    ]
    waves = listed.cost_totals(TaskFilter(text="waves"), EVERY_TASK)
    assert (waves.tasks, waves.credits) == (3, 35.0)


def test_every_listing_keeps_to_the_visibility_it_is_given(listed):
    only_gen4 = Visibility("model = ?", ("gen4_turbo",))
    everything = TaskFilter()
    assert ids(listed.listing(everything, only_gen4, limit=50)) == ["e", "d", "c", "a"]
    assert listed.count(everything, only_gen4) == 4
    assert listed.count(TaskFilter(model="gen3a_turbo"), only_gen4) == 0
    assert ids(listed.by_ids(["a", "b", "e", "nope"], only_gen4)) == ["e", "a"]
    assert listed.models(only_gen4) == ["gen4_turbo"]
    assert listed.models(EVERY_TASK) == ["gen3a_turbo", "gen4_turbo"]
    totals = listed.cost_totals(everything, only_gen4)
    assert (totals.tasks, totals.credits) == (4, 35.0)


def test_the_gallery_queries_use_the_indexes(listed):
    def plan(sql: str, *params: object) -> str:
        rows = listed._db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return " ".join(str(row[3]) for row in rows)

    assert "tasks_by_status" in plan("SELECT * FROM tasks WHERE status IN (?) ORDER BY submitted_at DESC", "FAILED")
    assert "tasks_by_model" in plan("SELECT * FROM tasks WHERE model = ? ORDER BY submitted_at DESC", "x")
    assert "tasks_by_submission" in plan("SELECT * FROM tasks ORDER BY submitted_at DESC LIMIT 24")
    assert "tasks_by_first_frame" in plan("SELECT 1 FROM tasks WHERE first_frame = ?", "frame:x")


def test_a_frame_is_in_use_while_any_task_names_it_first_or_last(store):
    store.insert(record("one", START, first_frame="frame:aa.png", last_frame="frame:bb.png"))
    store.insert(record("two", START, first_frame="frame:bb.png"))
    assert store.frame_in_use("frame:aa.png") and store.frame_in_use("frame:bb.png")
    store.delete("one")
    assert not store.frame_in_use("frame:aa.png") and store.frame_in_use("frame:bb.png")
    assert store.get("one") is None


def test_an_evicted_video_is_not_due_for_download_until_asked_for_again(store):
    store.insert(record("gone-from-cache", START, evicted_at=START + 5, video_bytes=100))
    store.insert(record("never-fetched", START))
    assert ids(store.due(now=START + 10)) == ["never-fetched"]
    store.update("gone-from-cache", evicted_at=None)
    assert sorted(ids(store.due(now=START + 10))) == ["gone-from-cache", "never-fetched"]


# --- share links -----------------------------------------------------------------------------------

def test_one_live_share_per_target_and_revoked_ones_are_gone(store):
    first = store.add_share(Share("t" * 32, ShareKind.TASK, "task-1", START))
    again = store.add_share(Share("u" * 32, ShareKind.TASK, "task-1", START + 1))
    assert again == first and store.share("u" * 32) is None
    other = store.add_share(Share("v" * 32, ShareKind.COMPARISON, "task-1", START))
    assert other.token == "v" * 32  # a comparison with the same id is another target
    assert store.revoke_shares(ShareKind.TASK, "task-1", START + 2) == 1
    assert store.share("t" * 32) is None and store.active_share(ShareKind.TASK, "task-1") is None
    assert store.revoke_shares(ShareKind.TASK, "task-1", START + 3) == 0
    fresh = store.add_share(Share("w" * 32, ShareKind.TASK, "task-1", START + 4))
    assert fresh.token == "w" * 32 and store.share("v" * 32) == other


def test_deleting_a_task_deletes_its_shares(store):
    store.insert(record("task-1", START))
    store.add_share(Share("t" * 32, ShareKind.TASK, "task-1", START))
    store.delete("task-1")
    assert store.share("t" * 32) is None
