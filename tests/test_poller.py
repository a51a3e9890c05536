"""The server-side poller through the whole console, against a real fake upstream on loopback."""

from __future__ import annotations

import html
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.storage import TaskStore
from tests.fake_upstream import FAKE_MP4, FakeUpstream, started
from tests.helpers import FRAME_URL, SECRET, FakeClock, LiveServer, create_task, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

BAD_OUTPUT = {
    "status": "FAILED",
    "failure": "The output did not pass our quality checks.",
    "failureCode": "INTERNAL.BAD_OUTPUT.CODE01",
}


@dataclass
class Upstream:
    """The fake upstream with the server it runs on, and what it has seen."""

    fake: FakeUpstream
    server: LiveServer

    def polls(self, task_id: str) -> int:
        """GETs the upstream has seen for one task."""
        return len(self.fake.calls("GET", f"/v1/tasks/{task_id}"))

    def cdn_calls(self) -> list:
        return self.fake.calls("GET", "/cdn/")


@pytest.fixture
def upstream(serve) -> Upstream:
    servers: list[LiveServer] = []

    def keep(app) -> LiveServer:
        servers.append(serve(app))
        return servers[-1]

    fake = started(keep)
    return Upstream(fake, servers[0])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "console-data"


@pytest.fixture
def open_poller_console(upstream, open_console, data_dir) -> Callable[..., TestClient]:
    """A console in front of this module's upstream, keeping its data in `data_dir`."""
    return lambda **options: open_console(upstream.fake, CONSOLE_DATA_DIR=data_dir, **options)


@pytest.fixture
def console(open_poller_console) -> TestClient:
    return open_poller_console()


@pytest.fixture
def video_file(data_dir) -> Callable[[str], Path]:
    return lambda task_id: data_dir / "videos" / f"{task_id}.mp4"


def store_of(console: TestClient) -> TaskStore:
    """The console's task store, as its lifespan opened it."""
    return console.app_state["services"].store


def status(console, task_id: str) -> httpx.Response:
    """The fragment browser tabs poll; it reads the console's database only."""
    return console.get(f"/tasks/{task_id}/status")


def text(response: httpx.Response) -> str:
    return html.unescape(response.text)


def settled_as(console, task_id: str, wanted: str) -> Callable[[], bool]:
    def check() -> bool:
        response = status(console, task_id)
        return response.status_code == 286 and f'data-status="{wanted}"' in response.text

    return check


def assert_never_polled_again(console: TestClient, task_id: str) -> None:
    """However much time passes, the poller has no reason to ask the upstream about the task again."""
    task = store_of(console).get(task_id)
    assert task is not None and task.is_settled
    assert task_id not in [t.id for t in store_of(console).due(now=float("inf"), limit=1000)]


def test_the_server_alone_follows_a_task_and_downloads_its_video(console, upstream, video_file):
    task_id = create_task(console, first_frame_url=FRAME_URL)
    # No page is opened: only the filesystem is watched.
    wait_until(lambda: video_file(task_id).is_file(), timeout=10)
    assert video_file(task_id).read_bytes() == FAKE_MP4
    wait_until(settled_as(console, task_id, "SUCCEEDED"), timeout=5)
    assert upstream.polls(task_id) == 2  # PENDING → RUNNING → SUCCEEDED
    (cdn,) = upstream.cdn_calls()
    assert cdn.path == f"/cdn/{task_id}.mp4"
    assert "authorization" not in cdn.headers
    assert f'src="/tasks/{task_id}/video.mp4"' in status(console, task_id).text
    assert_never_polled_again(console, task_id)


def test_the_video_is_served_with_range_after_the_cdn_link_expires_and_the_upstream_is_down(
    console, upstream, video_file
):
    task_id = create_task(console, first_frame_url=FRAME_URL)
    wait_until(settled_as(console, task_id, "SUCCEEDED"), timeout=10)
    upstream.fake.cdn_expired = True
    upstream.server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{upstream.fake.api_url}/v1/tasks/{task_id}", timeout=2)

    part = console.get(f"/tasks/{task_id}/video.mp4", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(FAKE_MP4)}"
    assert part.headers["content-type"] == "video/mp4"
    assert part.content == FAKE_MP4[100:200]

    whole = console.get(f"/tasks/{task_id}/video.mp4")
    assert whole.status_code == 200 and whole.content == FAKE_MP4
    assert whole.headers["accept-ranges"] == "bytes"
    page = console.get(f"/tasks/{task_id}")
    assert page.status_code == 200 and f'src="/tasks/{task_id}/video.mp4"' in page.text


def test_many_tabs_watching_a_task_do_not_add_upstream_polls(open_poller_console, upstream):
    clock = FakeClock()
    console = open_poller_console(clock=clock, CONSOLE_POLL_INTERVAL=1.0)
    upstream.fake.auto_advance = False  # the task stays PENDING, so the poller keeps following it
    task_id = create_task(console, first_frame_url=FRAME_URL)
    for interval in range(3):
        for round_ in range(10):
            if round_ % 5 == 0:  # a tab opening the full page now and then (that wakes the poller)
                assert console.get(f"/tasks/{task_id}").status_code == 200
            assert status(console, task_id).status_code == 200
        clock.advance(1.0)
        wait_until(lambda: upstream.polls(task_id) >= interval + 1)  # noqa: B023 - awaited here
    # One GET per interval, however many requests the tabs made.
    assert upstream.polls(task_id) == 3


def test_a_failed_task_shows_its_failure_code_and_advice_and_stops_polling(console, upstream):
    fake = upstream.fake
    fake.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)
    fake.final_status[task_id] = BAD_OUTPUT
    fake.auto_advance = True
    wait_until(settled_as(console, task_id, "FAILED"), timeout=10)

    fragment = status(console, task_id)
    assert "hx-get" not in fragment.text  # the tab stops asking
    page = text(console.get(f"/tasks/{task_id}"))
    assert "The result failed the upstream's quality check." in page
    assert "The upstream said: <q>The output did not pass our quality checks.</q>" in page
    assert "<code>INTERNAL.BAD_OUTPUT.CODE01</code>" in page
    assert "retrying rarely helps" in page
    assert "Cancel task" not in text(fragment)
    assert upstream.cdn_calls() == []
    assert_never_polled_again(console, task_id)


def test_a_task_the_upstream_no_longer_knows_is_marked_gone(open_poller_console, upstream):
    # Believe the first 404 (tests/test_reliability_404.py covers the grace period of the defaults).
    console = open_poller_console(CONSOLE_GONE_AFTER_404S=1, CONSOLE_GONE_AFTER_SECONDS=0)
    fake = upstream.fake
    fake.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)
    del fake.tasks[task_id]  # deleted upstream: GET answers 404 {"error": "Task not found"}
    wait_until(lambda: status(console, task_id).status_code == 286, timeout=10)

    assert "This task no longer exists upstream (it was probably deleted)." in text(status(console, task_id))
    page = console.get(f"/tasks/{task_id}")
    assert page.status_code == 200 and "no longer exists upstream" in page.text
    assert console.get(f"/tasks/{task_id}", headers={"Accept": "application/json"}).json()["gone"] is True
    assert upstream.polls(task_id) == 1
    assert_never_polled_again(console, task_id)


TRANSIENT = [
    {"status": 503, "body": '{"error": "overloaded"}'},
    {"status": 429, "body": '{"error": {"message": "slow down"}}', "headers": {"Retry-After": "1"}},
    {"status": 502, "body": "<html><title>502 Bad Gateway</title></html>", "content_type": "text/html"},
]


def test_the_poller_backs_off_while_the_upstream_fails_then_recovers(open_poller_console, upstream, video_file):
    clock = FakeClock()
    # One attempt per poll, so every failure reaches the poller and its own backoff shows.
    console = open_poller_console(clock=clock, CONSOLE_POLL_INTERVAL=0.1, CONSOLE_UPSTREAM_RETRIES=1)
    store, fake = store_of(console), upstream.fake
    for index in range(5):
        fake.queue("get", **TRANSIENT[index % len(TRANSIENT)])
    task_id = create_task(console, first_frame_url=FRAME_URL)

    waits = []
    for failures in range(1, 6):
        clock.advance_to(store.get(task_id).next_poll_at)
        wait_until(lambda: store.get(task_id).poll_failures == failures)  # noqa: B023 - awaited here
        waits.append(round(store.get(task_id).next_poll_at - clock(), 6))
    # Doubling from two intervals; the 429's Retry-After of 1 s is obeyed when longer than that.
    assert waits == [0.2, 1.0, 0.8, 1.6, 3.2]
    trouble = text(status(console, task_id))
    assert status(console, task_id).status_code == 200 and "Cancel task" in trouble
    assert "The upstream is not answering, retrying: upstream" in trouble

    # The upstream has recovered: time goes on and the task finishes.
    wait_until(lambda: clock.advance(0.1) or settled_as(console, task_id, "SUCCEEDED")())
    assert video_file(task_id).read_bytes() == FAKE_MP4
    assert upstream.polls(task_id) == 5 + 2
    assert "The upstream is not answering" not in status(console, task_id).text


def test_an_expired_video_link_is_fetched_again_from_a_fresh_task(console, upstream, video_file):
    upstream.fake.queue("cdn", status=403, body="<Error><Code>AccessDenied</Code></Error>", content_type="text/xml")
    task_id = create_task(console, first_frame_url=FRAME_URL)
    wait_until(settled_as(console, task_id, "SUCCEEDED"), timeout=10)
    assert video_file(task_id).read_bytes() == FAKE_MP4
    assert [p.name for p in video_file(task_id).parent.iterdir()] == [f"{task_id}.mp4"]  # no partial file
    assert len(upstream.cdn_calls()) == 2
    assert upstream.polls(task_id) == 3  # the second download follows a fresh GET of the task


@pytest.mark.parametrize("cdn_fault, shown", [("expired", "AccessDenied"), ("undecodable", "DecodingError")])
def test_a_video_that_cannot_be_fetched_settles_with_the_original_link(open_poller_console, upstream, video_file,
                                                                       cdn_fault, shown):
    console = open_poller_console(CONSOLE_POLL_INTERVAL=0.05)
    if cdn_fault == "expired":
        upstream.fake.cdn_expired = True
    else:
        for _ in range(10):
            upstream.fake.queue("cdn", status=200, body=FAKE_MP4, headers={"content-encoding": "gzip"})
    task_id = create_task(console, first_frame_url=FRAME_URL)
    wait_until(settled_as(console, task_id, "SUCCEEDED"), timeout=10)
    fragment = text(status(console, task_id))
    assert "The task succeeded but the video could not be fetched to this server." in fragment
    assert shown in fragment
    assert f'href="{upstream.fake.output_url(task_id)}" rel="noreferrer noopener"' in fragment
    assert len(upstream.cdn_calls()) == 5  # MAX_DOWNLOAD_ATTEMPTS, then it gives up
    assert not video_file(task_id).exists()
    assert console.get(f"/tasks/{task_id}/video.mp4").status_code == 404
    assert_never_polled_again(console, task_id)


def test_a_task_created_elsewhere_opens_by_id_and_is_followed(console, upstream, video_file):
    created = httpx.post(
        f"{upstream.fake.api_url}/v1/image_to_video",
        json={"promptImage": "https://cdn.example.com/a.png", "model": "gen4_turbo", "ratio": "1280:720"},
        headers={"Authorization": "Bearer another-client", "X-Runway-Version": "2024-11-06"},
    )
    task_id = created.json()["id"]

    page = console.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert "This task was created elsewhere" in page.text
    wait_until(settled_as(console, task_id, "SUCCEEDED"), timeout=10)
    assert video_file(task_id).read_bytes() == FAKE_MP4


def test_opening_an_id_the_upstream_does_not_know_is_a_404_page(console, upstream):
    response = console.get("/tasks/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404 and "<html" in response.text
    assert upstream.polls("00000000-0000-4000-8000-000000000000") == 1
    assert console.get("/tasks/not..an..id").status_code == 404
    assert len(upstream.fake.requests) == 1


def test_cancel_sends_delete_upstream_and_the_task_ends_cancelled(console, upstream):
    fake = upstream.fake
    fake.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)

    response = console.post(f"/tasks/{task_id}/cancel")
    assert response.status_code == 303 and response.headers["location"] == f"/tasks/{task_id}"
    (delete,) = fake.calls("DELETE", task_id)
    assert delete.headers["authorization"] == f"Bearer {SECRET}"
    assert fake.tasks[task_id]["status"] == "CANCELLED"
    wait_until(settled_as(console, task_id, "CANCELLED"), timeout=5)
    assert "The task was cancelled." in text(console.get(f"/tasks/{task_id}"))

    again = console.post(f"/tasks/{task_id}/cancel", headers={"HX-Request": "true"})
    assert again.status_code == 200 and 'data-status="CANCELLED"' in again.text
    assert len(fake.calls("DELETE")) == 1  # a settled task is not cancelled twice
    assert_never_polled_again(console, task_id)


def test_a_cancel_the_upstream_refuses_keeps_the_task_and_says_why(open_poller_console, upstream):
    console = open_poller_console(CONSOLE_UPSTREAM_RETRIES=2)
    fake = upstream.fake
    fake.auto_advance = False
    task_id = create_task(console, first_frame_url=FRAME_URL)
    for _ in range(3):
        fake.queue("delete", status=503, body='{"error": "overloaded"}')

    response = console.post(f"/tasks/{task_id}/cancel", headers={"HX-Request": "true"})
    assert response.status_code == 502
    fragment = text(response)
    assert "The upstream is overloaded or failing (HTTP 503)." in fragment and "overloaded" in fragment
    assert 'data-status="PENDING"' in fragment and "Cancel task" in fragment
    assert len(fake.calls("DELETE")) == 2  # DELETE is idempotent: retried, up to CONSOLE_UPSTREAM_RETRIES
    assert fake.tasks[task_id]["status"] == "PENDING"
    assert SECRET not in response.text


def test_opening_a_task_created_elsewhere_counts_as_its_first_poll(open_poller_console, upstream):
    clock = FakeClock()
    console = open_poller_console(clock=clock, CONSOLE_POLL_INTERVAL=2.0)
    created = httpx.post(
        f"{upstream.fake.api_url}/v1/image_to_video",
        json={"promptImage": "https://cdn.example.com/a.png", "model": "gen4_turbo", "ratio": "1280:720"},
        headers={"Authorization": "Bearer another-client", "X-Runway-Version": "2024-11-06"},
    )
    task_id = created.json()["id"]
    assert console.get(f"/tasks/{task_id}").status_code == 200
    assert upstream.polls(task_id) == 1
    assert store_of(console).get(task_id).next_poll_at == clock() + 2.0  # the next one is a whole interval away


def test_a_429_with_retry_after_holds_the_poller_back_that_long(open_poller_console, upstream):
    clock = FakeClock()
    console = open_poller_console(clock=clock)
    upstream.fake.queue("get", status=429, body='{"error": "Too many requests"}', headers={"Retry-After": "30"})
    task_id = create_task(console, first_frame_url=FRAME_URL)
    clock.advance(0.2)
    wait_until(lambda: store_of(console).get(task_id).poll_failures == 1)
    assert upstream.polls(task_id) == 1
    assert store_of(console).get(task_id).next_poll_at == clock() + 30
    assert "429" in text(status(console, task_id))


def test_a_stalled_video_download_does_not_hold_back_other_tasks(console, upstream, video_file):
    upstream.fake.queue("cdn", hang_seconds=4, status=503, body="busy", content_type="text/plain")
    stalled = create_task(console, first_frame_url=FRAME_URL)
    wait_until(lambda: len(upstream.cdn_calls()) == 1)
    other = create_task(console, first_frame_url=FRAME_URL)
    wait_until(settled_as(console, other, "SUCCEEDED"), timeout=3.5)
    wait_until(lambda: video_file(other).exists(), timeout=3.5)
    assert not video_file(stalled).exists()  # still waiting on the CDN: the other task did not wait for it


@pytest.mark.parametrize(
    "bad_body, says",
    [
        (FAKE_MP4[:700], "the downloaded video is not whole"),
        (b"<html><title>Moved</title></html>", "is not an MP4 video, so it was discarded"),
    ],
    ids=["cut", "html"],
)
def test_a_video_that_is_not_whole_is_never_served_and_is_fetched_again(open_poller_console, upstream, video_file,
                                                                         bad_body, says):
    clock = FakeClock()
    console = open_poller_console(clock=clock)
    upstream.fake.queue("cdn", status=200, body=bad_body, content_type="video/mp4")
    task_id = create_task(console, first_frame_url=FRAME_URL)
    while store_of(console).get(task_id).download_attempts == 0:
        clock.advance(0.2)
        wait_until(lambda: store_of(console).get(task_id).next_poll_at > clock(), timeout=5)
    assert says in text(status(console, task_id))
    assert console.get(f"/tasks/{task_id}/video.mp4").status_code == 404
    assert not video_file(task_id).exists()
    wait_until(lambda: clock.advance(0.2) or settled_as(console, task_id, "SUCCEEDED")(), timeout=10)
    assert video_file(task_id).read_bytes() == FAKE_MP4 == console.get(f"/tasks/{task_id}/video.mp4").content
    assert len(upstream.cdn_calls()) == 2
    assert [p.name for p in video_file(task_id).parent.iterdir()] == [f"{task_id}.mp4"]


def test_a_429_for_one_task_holds_back_the_polls_of_every_task(console, upstream):
    upstream.fake.auto_advance = False
    first = create_task(console, first_frame_url=FRAME_URL)
    second = create_task(console, first_frame_url=FRAME_URL)
    wait_until(lambda: upstream.polls(first) >= 1 and upstream.polls(second) >= 1)
    upstream.fake.queue("get", status=429, body='{"error": "slow down"}', headers={"Retry-After": "60"})

    def rate_limited(task_id: str) -> bool:
        task = store_of(console).get(task_id)
        return task is not None and "rate_limit" in (task.last_error or "")

    # The 429 was one task's; the other's next poll (due within 0.2 s) is held back too, sent nowhere.
    wait_until(lambda: rate_limited(first) and rate_limited(second), timeout=10)
    sent = len(upstream.fake.calls("GET", "/v1/tasks/"))
    for task_id in (first, second):
        task = store_of(console).get(task_id)
        assert task is not None and task.next_poll_at >= time.time() + 50 and task.is_active
    assert len(upstream.fake.calls("GET", "/v1/tasks/")) == sent
