"""No paid task given up on a blip: a 404 is believed only when repeated over minutes, and a task
given up can be checked again. Against the fake upstream on loopback, with the console's clock in
the test's hands."""

from __future__ import annotations

import html
import warnings

import pytest

from app.poll_results import GoneRule
from app.storage import TaskStore
from tests.fake_upstream import FAKE_MP4, FakeUpstream
from tests.helpers import FRAME_URL, FakeClock, create_task, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

NOT_FOUND = {"status": 404, "body": '{"error": "Task not found"}'}


def store_of(console: TestClient) -> TaskStore:
    return console.app_state["services"].store


def polls(fake: FakeUpstream, task_id: str) -> int:
    return len(fake.calls("GET", f"/v1/tasks/{task_id}"))


def next_poll(console: TestClient, clock: FakeClock, fake: FakeUpstream, task_id: str) -> None:
    """Move the console's clock to the task's next poll and wait until the poller has made it."""
    before = polls(fake, task_id)
    clock.advance_to(store_of(console).get(task_id).next_poll_at)
    console.get(f"/tasks/{task_id}")  # opening the page wakes the poller rather than waiting for its tick
    wait_until(lambda: polls(fake, task_id) > before, timeout=5)
    wait_recorded(console, clock, task_id)


def wait_recorded(console: TestClient, clock: FakeClock, task_id: str) -> None:
    """The poll's outcome is stored right after the answer: wait for the record to move on."""
    wait_until(lambda: store_of(console).get(task_id).next_poll_at > clock() or store_of(console).get(task_id).gone,
               timeout=5)


def settle(console: TestClient, clock: FakeClock, fake: FakeUpstream, task_id: str) -> None:
    """Poll until the task succeeds upstream, then wait for its video download."""
    while store_of(console).get(task_id).status != "SUCCEEDED":
        next_poll(console, clock, fake, task_id)
    wait_until(lambda: store_of(console).get(task_id).video_file is not None, timeout=5)


def fragment(console: TestClient, task_id: str, lang: str = "en"):
    return console.get(f"/tasks/{task_id}/status", headers={"Accept-Language": lang})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def console(open_console, fake_upstream, clock) -> TestClient:
    # A 404 is believed after 3 answers spanning 60 s; polls every second otherwise.
    return open_console(
        fake_upstream, clock=clock, CONSOLE_POLL_INTERVAL=1.0, CONSOLE_GONE_AFTER_404S=3, CONSOLE_GONE_AFTER_SECONDS=60
    )


def test_a_relay_that_answers_404_while_a_new_task_propagates_does_not_lose_it(console, fake_upstream, clock):
    for _ in range(4):
        fake_upstream.queue("get", **NOT_FOUND)
    task_id = create_task(console, first_frame_url=FRAME_URL)

    for answered in range(1, 5):
        next_poll(console, clock, fake_upstream, task_id)
        task = store_of(console).get(task_id)
        assert task.not_found_polls == answered and not task.gone
    # Four 404s, but only over 1 + 2 + 4 s: far from the 60 s the rule asks for.
    shown = fragment(console, task_id)
    assert shown.status_code == 200 and 'hx-get="' in shown.text
    assert "does not know this task right now (HTTP 404)" in html.unescape(shown.text)
    assert "no longer exists" not in shown.text
    assert "上游暂时找不到该任务（HTTP 404）" in fragment(console, task_id, "zh-CN").text

    # The task shows up upstream: it is followed to the end and its video fetched.
    settle(console, clock, fake_upstream, task_id)
    task = store_of(console).get(task_id)
    assert task.status == "SUCCEEDED" and task.not_found_polls == 0 and task.not_found_since is None
    assert (console.get(f"/tasks/{task_id}/video.mp4")).content == FAKE_MP4
    assert "HTTP 404" not in fragment(console, task_id).text


def test_a_deleted_task_is_given_up_only_after_repeated_404s_over_the_span(console, fake_upstream, clock):
    fake_upstream.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)
    del fake_upstream.tasks[task_id]
    first = store_of(console).get(task_id).next_poll_at

    while not store_of(console).get(task_id).gone:
        next_poll(console, clock, fake_upstream, task_id)
        task = store_of(console).get(task_id)
        if not task.gone:
            assert fragment(console, task_id).status_code == 200  # still followed, still cancellable
    task = store_of(console).get(task_id)
    # Backoff 1, 2, 4, 8, 16, then every 20 s (60 s / 3): gone at the first 404 at least 60 s after the first.
    assert task.not_found_since == first
    assert clock() - first == 71
    assert task.not_found_polls == polls(fake_upstream, task_id) == 8
    assert task.finished_at == clock()

    shown = fragment(console, task_id)
    assert shown.status_code == 286 and "hx-get" not in shown.text
    text = html.unescape(shown.text)
    assert "This task no longer exists upstream" in text
    assert "answered “not found” to the last 8 checks" in text
    assert f'hx-post="/tasks/{task_id}/check"' in shown.text and "Check again" in text
    zh = fragment(console, task_id, "zh-CN").text
    assert "重新检查" in zh and "最近 8 次查询" in zh
    assert console.get(f"/tasks/{task_id}", headers={"Accept": "application/json"}).json()["gone"] is True
    clock.advance(3600)
    assert task_id not in [t.id for t in store_of(console).due(clock(), limit=1000)]


def test_check_again_takes_a_gone_task_back_and_polls_it_now(open_console, fake_upstream, clock):
    console = open_console(fake_upstream, clock=clock, CONSOLE_POLL_INTERVAL=1.0, CONSOLE_GONE_AFTER_404S=1,
                           CONSOLE_GONE_AFTER_SECONDS=0)
    fake_upstream.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)
    hidden = fake_upstream.tasks.pop(task_id)
    next_poll(console, clock, fake_upstream, task_id)
    assert store_of(console).get(task_id).gone  # with these settings the first 404 is believed

    fake_upstream.tasks[task_id] = hidden  # the relay lists it again
    fake_upstream.auto_advance = True
    before = polls(fake_upstream, task_id)
    answer = console.post(f"/tasks/{task_id}/check", headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert f'hx-get="/tasks/{task_id}/status?v=' in answer.text and "Check again" not in answer.text
    task = store_of(console).get(task_id)
    assert not task.gone and task.not_found_polls == 0 and task.finished_at is None
    # "Now": the poller asks without the clock moving.
    wait_until(lambda: polls(fake_upstream, task_id) > before, timeout=5)
    wait_recorded(console, clock, task_id)
    settle(console, clock, fake_upstream, task_id)
    assert store_of(console).get(task_id).status == "SUCCEEDED"


def test_check_again_without_htmx_redirects_and_leaves_other_tasks_alone(console, fake_upstream, clock):
    fake_upstream.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)
    before = store_of(console).get(task_id)

    answer = console.post(f"/tasks/{task_id}/check")
    assert answer.status_code == 303 and answer.headers["location"] == f"/tasks/{task_id}"
    assert store_of(console).get(task_id) == before  # not gone: nothing to take back
    assert console.post("/tasks/00000000-0000-4000-8000-000000000000/check").status_code == 404
    assert console.post("/tasks/not..an..id/check").status_code == 404
    assert console.get(f"/tasks/{task_id}/check").status_code == 405
    assert polls(fake_upstream, task_id) == 0 and len(fake_upstream.requests) == 1  # only the create


@pytest.mark.parametrize(
    "count, since, now, gone",
    [(2, 0, 1000, False), (3, 0, 59.9, False), (3, 0, 60, True), (9, 100, 150, False), (1, 5, 5, False)],
)
def test_the_gone_rule_needs_both_enough_404s_and_enough_time(count, since, now, gone):
    assert GoneRule(polls=3, seconds=60).is_gone(count, since, now) is gone


def test_404_polls_are_spread_over_the_span():
    backoff = GoneRule(polls=5, seconds=180).backoff(interval=5)
    assert [backoff.delay(n) for n in range(1, 7)] == [5, 10, 20, 36, 36, 36]
