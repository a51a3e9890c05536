"""Deleting a task (app/removal.py, POST /tasks/{id}/delete): upstream first, then everything kept here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.fake_upstream import FakeUpstream
from tests.helpers import create_task, image_bytes, real_mp4, wait_until

JSON = {"Accept": "application/json"}
CONFIRMED = {"confirm": "yes"}


@pytest.fixture
def console(open_console, fake_upstream: FakeUpstream) -> Any:
    fake_upstream.video = real_mp4()  # decodable, so each task gets a poster
    return open_console(fake_upstream)


def data_dir(console: Any) -> Path:
    return console.app.state.settings.data_dir


def finished(console: Any, task_id: str) -> None:
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers=JSON).json()["video"] is not None)
    assert console.get(f"/tasks/{task_id}/poster.jpg").status_code == 200


def frame_files(console: Any) -> list[str]:
    return sorted(p.name for p in (data_dir(console) / "frames").iterdir())


def media_files(console: Any) -> list[str]:
    return sorted(p.name for p in (data_dir(console) / "videos").iterdir())


def test_delete_removes_the_record_video_poster_and_unshared_frames_and_asks_the_upstream(console, fake_upstream):
    shared_frame = image_bytes(color=(10, 200, 10))
    own_frame = image_bytes(color=(200, 10, 10))
    doomed = create_task(console, own_frame)
    sibling = create_task(console, shared_frame)
    twin = create_task(console, shared_frame, promptText="same frame")
    for task_id in (doomed, sibling, twin):
        finished(console, task_id)
    assert len(frame_files(console)) == 2

    response = console.post(f"/tasks/{doomed}/delete", data=CONFIRMED)
    assert response.status_code == 303 and response.headers["location"] == "/tasks?deleted=1"
    assert [r.path for r in fake_upstream.calls("DELETE")] == [f"/runwayml/v1/tasks/{doomed}"]
    assert doomed not in fake_upstream.tasks
    assert console.get(f"/tasks/{doomed}/video.mp4").status_code == 404
    assert not [name for name in media_files(console) if name.startswith(doomed)]
    assert len(frame_files(console)) == 1  # the doomed task's own frame went, the shared one stayed
    gallery = console.get("/tasks?deleted=1").text
    assert "The task was deleted." in gallery and doomed not in gallery

    console.post(f"/tasks/{sibling}/delete", data=CONFIRMED)
    assert len(frame_files(console)) == 1  # still named by the twin
    assert console.get(f"/tasks/{twin}/request.json").status_code == 200
    console.post(f"/tasks/{twin}/delete", data=CONFIRMED)
    assert frame_files(console) == [] and media_files(console) == []
    assert len(fake_upstream.calls("DELETE")) == 3


def test_a_task_the_upstream_no_longer_knows_is_still_deleted_here(console, fake_upstream, png):
    task_id = create_task(console, png)
    finished(console, task_id)
    del fake_upstream.tasks[task_id]
    assert console.post(f"/tasks/{task_id}/delete", data=CONFIRMED).status_code == 303
    assert console.get(f"/tasks/{task_id}", headers=JSON).status_code == 404


def test_a_running_task_is_cancelled_upstream_by_the_delete(console, fake_upstream, png):
    fake_upstream.auto_advance = False
    task_id = create_task(console, png)
    assert console.post(f"/tasks/{task_id}/delete", data=CONFIRMED).status_code == 303
    assert fake_upstream.tasks[task_id]["status"] == "CANCELLED"
    assert fake_upstream.calls("DELETE")
    response = console.get("/tasks")
    assert task_id not in response.text


def test_when_the_upstream_refuses_nothing_is_deleted_and_the_page_says_why(console, fake_upstream, png):
    task_id = create_task(console, png)
    finished(console, task_id)
    for _ in range(3):  # every retry of the DELETE fails
        fake_upstream.queue("delete", status=503, body='{"error": "maintenance"}')
    before = media_files(console), frame_files(console)
    response = console.post(f"/tasks/{task_id}/delete", data=CONFIRMED)
    assert response.status_code == 502
    assert "The upstream did not delete the task, so nothing was deleted here either." in response.text
    assert "maintenance" in response.text
    assert (media_files(console), frame_files(console)) == before
    assert console.get(f"/tasks/{task_id}", headers=JSON).json()["video"]


def test_without_the_confirmation_it_only_asks(console, fake_upstream, png):
    task_id = create_task(console, png)
    asked = console.post(f"/tasks/{task_id}/delete")
    assert asked.status_code == 200
    assert "Tick the box to confirm; nothing was deleted." in asked.text
    assert re.search(r'<input type="checkbox" name="confirm" value="yes" required>', asked.text)
    assert f'action="/tasks/{task_id}/delete"' in asked.text
    page = console.get(f"/tasks/{task_id}/delete")
    assert page.status_code == 200 and "Delete for good" in page.text
    assert fake_upstream.calls("DELETE") == []
    assert console.get(f"/tasks/{task_id}", headers=JSON).status_code == 200


def test_from_a_gallery_card_with_htmx_the_card_is_removed(console, fake_upstream, png):
    task_id = create_task(console, png)
    gallery = console.get("/tasks").text
    card = gallery.split(f'id="card-{task_id}"')[1].split("</article>")[0]
    assert f'hx-post="/tasks/{task_id}/delete"' in card and "hx-confirm=" in card
    assert f'hx-target="#card-{task_id}"' in card and 'hx-vals=\'{"confirm": "yes"}\'' in card
    response = console.post(
        f"/tasks/{task_id}/delete", data=CONFIRMED, headers={"HX-Request": "true", "HX-Target": f"card-{task_id}"}
    )
    assert response.status_code == 200 and response.text == ""  # the card's outerHTML becomes nothing
    assert fake_upstream.calls("DELETE")


def test_a_refused_delete_from_a_card_keeps_the_card_with_the_reason(console, fake_upstream, png):
    task_id = create_task(console, png)
    fake_upstream.queue("delete", status=401, body='{"error": "bad key"}')
    response = console.post(
        f"/tasks/{task_id}/delete", data=CONFIRMED, headers={"HX-Request": "true", "HX-Target": f"card-{task_id}"}
    )
    assert response.status_code == 502
    assert f'id="card-{task_id}"' in response.text and "nothing was deleted here either" in response.text


def test_the_task_page_offers_delete_with_a_confirmation_box(console, png):
    task_id = create_task(console, png)
    page = console.get(f"/tasks/{task_id}").text
    form = page.split('id="delete"')[1]
    assert f'action="/tasks/{task_id}/delete"' in form and 'name="confirm" value="yes" required' in form


@pytest.mark.parametrize("task_id", ["unknown-task", "..", "a%2Fb"])
def test_deleting_an_unknown_task_is_404_and_sends_nothing_upstream(console, fake_upstream, task_id):
    assert console.post(f"/tasks/{task_id}/delete", data=CONFIRMED).status_code == 404
    assert fake_upstream.calls("DELETE") == []


def test_a_cross_site_post_cannot_delete(console, fake_upstream, png):
    task_id = create_task(console, png)
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    response = console.post(f"/tasks/{task_id}/delete", data=CONFIRMED, headers=cross_site)
    assert response.status_code == 403
    assert fake_upstream.calls("DELETE") == []
    assert console.get(f"/tasks/{task_id}", headers=JSON).status_code == 200


def test_with_private_history_another_browser_cannot_delete_share_or_list_the_task(open_console, fake_upstream, png):
    owner = open_console(fake_upstream, CONSOLE_HISTORY="private")
    other = open_console(fake_upstream, CONSOLE_HISTORY="private")
    owner.get("/")
    other.get("/")
    task_id = create_task(owner, png, promptText="the owner's waves")
    assert other.post(f"/tasks/{task_id}/delete", data=CONFIRMED).status_code == 404
    assert other.post(f"/tasks/{task_id}/share").status_code == 404
    assert other.get(f"/tasks/{task_id}/poster.jpg").status_code == 404
    gallery = other.get("/tasks").text
    assert task_id not in gallery and "the owner&#39;s waves" not in gallery and "Tasks: 0" not in gallery
    assert task_id not in other.get("/gallery/live", params={"ids": task_id}).text
    assert fake_upstream.calls("DELETE") == []
    assert task_id in owner.get("/tasks").text
