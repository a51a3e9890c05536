"""The status versions map (app/versions.py): what makes a new version, what does not, and the owner."""

from __future__ import annotations

from app.tasks import TaskStatus
from app.versions import TaskVersions


def test_a_task_keeps_its_version_until_a_shown_field_changes():
    versions = TaskVersions()
    versions.record_write("t1", {"status": TaskStatus.RUNNING, "progress": 0.25, "next_poll_at": 1.0})
    first = versions.current("t1")
    assert versions.current("t1") == first
    versions.record_write("t1", {"status": TaskStatus.RUNNING, "progress": 0.25, "next_poll_at": 6.0})
    versions.record_write("t1", {"next_poll_at": 11.0, "updated_at": 11.0})
    assert versions.current("t1") == first
    versions.record_write("t1", {"progress": 0.5, "next_poll_at": 16.0})
    second = versions.current("t1")
    assert second != first
    versions.record_write("t1", {"last_error": "upstream rate_limit HTTP 429"})
    assert versions.current("t1") not in (first, second)


def test_a_field_never_seen_before_counts_as_a_change():
    versions = TaskVersions()
    before = versions.current("t1")  # asked before any write: e.g. after a restart
    versions.record_write("t1", {"status": TaskStatus.RUNNING})
    assert versions.current("t1") != before


def test_values_that_compare_equal_across_types_still_count_as_changes():
    versions = TaskVersions()
    versions.record_write("t1", {"gone": 1})
    before = versions.current("t1")
    versions.record_write("t1", {"gone": True})
    assert versions.current("t1") != before


def test_versions_never_repeat_across_processes_or_tasks():
    one, two = TaskVersions(), TaskVersions()
    assert one.current("t1") != two.current("t1")
    assert one.current("t1") != one.current("t2")


def test_unchanged_only_for_the_current_version_of_a_task_whose_owner_is_known():
    versions = TaskVersions()
    version = versions.current("t1")
    assert versions.unchanged("t1", version) == (False, None)  # owner not known yet: read it
    versions.remember_owner("t1", "account:alice")
    assert versions.unchanged("t1", version) == (True, "account:alice")
    assert versions.unchanged("t1", None) == (False, None)
    assert versions.unchanged("t1", "0" * 16) == (False, None)
    assert versions.unchanged("t2", version) == (False, None)
    versions.record_write("t2", {"owner": None, "status": TaskStatus.PENDING})
    assert versions.unchanged("t2", versions.current("t2")) == (True, None)


def test_the_least_recently_used_task_is_forgotten_beyond_the_bound_and_gets_a_new_version():
    versions = TaskVersions(max_tasks=2)
    a, b = versions.current("a"), versions.current("b")
    assert versions.current("a") == a  # a is now the most recent
    versions.current("c")  # evicts b, the least recent
    assert versions.current("a") == a
    assert versions.current("b") != b
