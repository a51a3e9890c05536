"""The gallery and share links in a real Chromium: videos that play, delete from a card, a share link
opened with no cookies, revoked to a 404, and the grid on a phone in Chinese. The upstream is the fake
one (its CDN sends a real mp4), so the test can read which DELETEs it received."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.actions import EN, ZH
from tests.fake_upstream import FakeUpstream, started
from tests.helpers import SECRET, LiveServer, image_bytes, real_mp4, wait_until

PLAYS = """async (video) => {
  video.muted = true;
  await video.play();
  await new Promise((resolve) => {
    const check = () => (video.currentTime > 0.2 ? resolve() : setTimeout(check, 50));
    check();
  });
  return { time: video.currentTime, width: video.videoWidth, paused: video.paused };
}"""


@pytest.fixture
def upstream(serve) -> FakeUpstream:
    fake = started(serve)
    fake.video = real_mp4(seconds=2)
    return fake


@pytest.fixture
def console_with_tasks(
    console: Callable[..., LiveServer], upstream: FakeUpstream
) -> Callable[[int], tuple[str, list[str]]]:
    """A console before the fake upstream with `count` finished tasks; returns its URL and the ids, oldest first."""

    def make(count: int) -> tuple[str, list[str]]:
        server = console(RUNWAYML_BASE_URL=upstream.api_url, RUNWAYML_API_SECRET=SECRET)
        ids = []
        with httpx.Client(base_url=server.url, headers={"Accept": "application/json"}) as client:
            for number in range(count):
                frame = image_bytes(color=(30 + 7 * number, 90, 200 - 5 * number))
                created = client.post(
                    "/tasks",
                    data={"model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "promptText": f"waves {number}"},
                    files={"first_frame": ("frame.png", frame, "image/png")},
                )
                assert created.status_code == 201, created.text
                ids.append(created.json()["id"])
            for task_id in ids:
                wait_until(lambda task_id=task_id: client.get(f"/tasks/{task_id}").json()["video"] is not None)
        return server.url, ids

    return make


def test_the_gallery_plays_finished_videos_and_a_card_deletes_its_task(page, console_with_tasks, upstream):
    url, ids = console_with_tasks(2)
    page.goto(url + "/tasks")
    cards = page.locator("article.card")
    expect(cards).to_have_count(2)
    assert [c.get_attribute("data-task-id") for c in cards.all()] == ids[::-1]
    for task_id in ids:
        video = page.locator(f"#card-{task_id} video")
        assert video.get_attribute("preload") == "none"
        assert video.get_attribute("poster") == f"/tasks/{task_id}/poster.jpg"
        played: dict[str, Any] = video.evaluate(PLAYS)
        assert played["time"] > 0.2 and played["width"] > 0 and not played["paused"]
        video.evaluate("(v) => v.pause()")
    # Hovering plays a card's video, leaving pauses it again.
    first = page.locator(f"#card-{ids[0]} video")
    first.evaluate("(v) => { v.currentTime = 0; }")
    first.hover()
    page.wait_for_function("(v) => !v.paused && v.currentTime > 0", arg=first.element_handle())
    page.locator("h1").hover()
    page.wait_for_function("(v) => v.paused", arg=first.element_handle())

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#card-{ids[0]}").get_by_role("button", name=EN["delete.button"]).click()
    expect(page.locator(f"#card-{ids[0]}")).to_have_count(0)
    expect(cards).to_have_count(1)
    assert [r.path for r in upstream.calls("DELETE")] == [f"/runwayml/v1/tasks/{ids[0]}"]
    page.reload()
    expect(page.locator("article.card")).to_have_count(1)


def test_a_declined_confirmation_deletes_nothing(page, console_with_tasks, upstream):
    url, ids = console_with_tasks(1)
    page.goto(url + "/tasks")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name=EN["delete.button"]).click()
    page.wait_for_timeout(300)  # a request would have been sent at once; none must be
    expect(page.locator(f"#card-{ids[0]}")).to_have_count(1)
    assert upstream.calls("DELETE") == []


def test_a_share_link_plays_for_a_stranger_and_revoking_it_gives_404(pages, console_with_tasks):
    url, ids = console_with_tasks(1)
    owner = pages.new()
    owner.goto(f"{url}/tasks/{ids[0]}")
    owner.locator("#share").get_by_role("button", name=EN["share.create"]).click()
    link = owner.locator("#share-url")
    expect(link).to_be_visible()
    shared_url = link.input_value()
    assert shared_url.startswith(f"{url}/s/")
    expect(owner.locator("#share").get_by_role("button", name=EN["share.copy"])).to_be_visible()

    stranger = pages.new()  # a fresh context: no cookies, no session
    assert stranger.context.cookies() == []
    response = stranger.goto(shared_url)
    assert response is not None and response.status == 200
    expect(stranger.locator("form")).to_have_count(0)
    expect(stranger.locator("input, button, textarea, select")).to_have_count(0)
    assert stranger.locator("a[href^='/']").count() == 0
    played = stranger.locator("video").evaluate(PLAYS)
    assert played["time"] > 0.2 and played["width"] > 0
    assert stranger.locator("meta[property='og:video']").get_attribute("content") == f"{shared_url}/video.mp4"

    owner.locator("#share").get_by_role("button", name=EN["share.revoke"]).click()
    expect(owner.locator("#share").get_by_role("button", name=EN["share.create"])).to_be_visible()
    pages.allow(r"404")
    later = pages.new()
    gone = later.goto(shared_url)
    assert gone is not None and gone.status == 404


@pytest.mark.parametrize("lang, words", [("en", EN), ("zh-CN", ZH)])
def test_on_a_phone_the_gallery_is_one_column_that_fits_the_screen(pages, console_with_tasks, lang, words):
    url, ids = console_with_tasks(3)
    page = pages.new(viewport={"width": 390, "height": 844}, locale=lang, extra_http_headers={"Accept-Language": lang})
    page.goto(url + "/tasks")
    expect(page.locator("h1")).to_have_text(words["gallery.title"])
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    boxes = [page.locator(f"#card-{task_id}").bounding_box() for task_id in ids]
    assert all(box is not None for box in boxes)
    assert len({round(box["x"]) for box in boxes if box}) == 1  # one column
    # Times are shown in the viewer's local form, with the UTC text kept as the title.
    time = page.locator("time[data-local]").first
    assert time.get_attribute("title", timeout=1000).endswith("UTC")
    assert not time.inner_text().endswith("UTC")
