"""The gallery (app/gallery.py, app/routers/gallery.py): query parameters, pages, cards, live updates, posters."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from app.gallery import PAGE_SIZE, GalleryQuery, Pagination, parse_live_ids
from app.tasks import TaskStatus
from tests.helpers import create_task, real_mp4, wait_until

JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true"}


def card_ids(page: str) -> list[str]:
    return re.findall(r'<article class="card [^"]*" id="card-([^"]+)"', page)


def finished(console: Any, task_id: str) -> bool:
    return console.get(f"/tasks/{task_id}", headers=JSON).json()["video"] is not None


# --- query parameters and pages -------------------------------------------------------------------

def test_query_parameters_become_a_filter():
    query = GalleryQuery.parse("Succeeded", " gen4_turbo ", "  waves   roll ", "3")
    assert (query.status, query.model, query.q, query.page, query.errors) == (
        "succeeded", "gen4_turbo", "waves roll", 3, {}
    )
    where = query.task_filter()
    assert where.statuses == {TaskStatus.SUCCEEDED} and where.model == "gen4_turbo" and where.text == "waves roll"
    assert GalleryQuery.parse("active", None, None, None).task_filter().statuses == {
        TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING
    }
    assert query.params(page=4) == {"status": "succeeded", "model": "gen4_turbo", "q": "waves roll", "page": "4"}
    assert GalleryQuery.parse(None, None, None, None).params(page=1) == {}


@pytest.mark.parametrize(
    "status, model, q, page, field",
    [("done", None, None, None, "status"), (None, "../etc", None, None, "model"), (None, None, "x" * 201, None, "q"),
     (None, None, None, "0", "page"), (None, None, None, "two", "page"), (None, None, None, "-1", "page")],
)
def test_a_bad_parameter_gets_a_message_and_is_left_out(status, model, q, page, field):
    query = GalleryQuery.parse(status, model, q, page)
    assert list(query.errors) == [field]
    assert not query.is_filtered and query.page == 1


@pytest.mark.parametrize(
    "page, pages, window",
    [(1, 1, [1]), (1, 3, [1, 2, 3]), (1, 10, [1, 2, 3, None, 10]), (6, 20, [1, None, 4, 5, 6, 7, 8, None, 20]),
     (20, 20, [1, None, 18, 19, 20]), (4, 10, [1, 2, 3, 4, 5, 6, None, 10])],
)
def test_page_links_show_the_neighbours_and_both_ends(page, pages, window):
    assert Pagination(page, total=pages * 10, size=10).window() == window


def test_live_ids_are_task_ids_only_and_bounded():
    assert parse_live_ids("a,,b,../x,%00," + ",".join(f"t{n}" for n in range(100))) == ["a", "b", *[
        f"t{n}" for n in range(58)
    ]]


# --- the page --------------------------------------------------------------------------------------

def test_the_gallery_shows_every_task_newest_first_with_its_facts(console, png):
    ids = [create_task(console, png, promptText=f"prompt-{n}", seed=str(n)) for n in range(3)]
    page = console.get("/tasks").text
    assert card_ids(page) == ids[::-1]
    assert "Tasks: 3" in page
    for n, task_id in enumerate(ids):
        card = page.split(f'id="card-{task_id}"')[1].split("</article>")[0]
        assert f"prompt-{n}" in card and f"<code>{n}</code>" in card and "gen4_turbo" in card
        assert "1280:720" in card and "5 s" in card
        assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-local title="[^"]+ UTC">', card)
        assert f'href="/tasks/{task_id}"' in card


def test_finished_videos_play_in_the_card_with_a_poster_and_no_preload(open_console, fake_upstream, png):
    fake_upstream.video = real_mp4()
    console = open_console(fake_upstream)
    task_id = create_task(console, png)
    wait_until(lambda: finished(console, task_id))
    page = console.get("/tasks").text
    video = re.search(r"<video [^>]*>", page)
    assert video is not None
    tag = video.group(0)
    for attribute in (f'src="/tasks/{task_id}/video.mp4"', f'poster="/tasks/{task_id}/poster.jpg"',
                      'preload="none"', " muted", " controls", " playsinline", "data-hover-play"):
        assert attribute in tag
    poster = console.get(f"/tasks/{task_id}/poster.jpg")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
    assert poster.content[:3] == b"\xff\xd8\xff"


def test_a_card_without_a_video_shows_the_first_frame(console, fake_upstream, png):
    fake_upstream.auto_advance = False
    task_id = create_task(console, png)
    page = console.get("/tasks").text
    card = page.split(f'id="card-{task_id}"')[1].split("</article>")[0]
    assert re.search(r'<img src="/frames/[0-9a-f]{64}\.png"', card) and "<video" not in card


def test_filters_narrow_the_gallery_and_can_be_linked(console, png, fake_upstream):
    waves = create_task(console, png, promptText="Waves at dawn")
    wait_until(lambda: finished(console, waves))
    fake_upstream.auto_advance = False
    cat = create_task(console, png, promptText="a cat, 100% calm")
    fake_upstream.tasks[cat]["status"] = "RUNNING"
    wait_until(lambda: console.get(f"/tasks/{cat}", headers=JSON).json()["status"] == "RUNNING")
    assert card_ids(console.get("/tasks", params={"q": "waves"}).text) == [waves]
    assert card_ids(console.get("/tasks", params={"q": "100%"}).text) == [cat]
    assert card_ids(console.get("/tasks", params={"status": "active"}).text) == [cat]
    assert card_ids(console.get("/tasks", params={"status": "running", "q": "cat"}).text) == [cat]
    assert card_ids(console.get("/tasks", params={"model": "gen3a_turbo"}).text) == []
    page = console.get("/tasks", params={"model": "gen4_turbo", "q": "cat"}).text
    assert "Matching tasks: 1" in page
    assert '<option value="gen4_turbo" selected>' in page and 'value="cat"' in page
    assert 'href="/tasks">Show all</a>' in page
    none = console.get("/tasks", params={"q": "nothing like this"}).text
    assert card_ids(none) == [] and "No task matches these filters." in none


def test_a_bad_filter_is_explained_by_its_field_with_the_value_kept(console, png):
    create_task(console, png)
    response = console.get("/tasks", params={"status": "finished", "q": "w" * 300})
    assert response.status_code == 422
    assert "Unknown status: choose one from the list." in response.text
    assert "The search text may be at most 200 characters long." in response.text
    assert 'value="' + "w" * 300 + '"' in response.text
    assert len(card_ids(response.text)) == 1  # the rest of the page still works


def test_pages_cover_every_task_and_say_how_many_there_are(open_console, fake_upstream):
    # The tasks stay where they are and nobody needs them polled: this test is about the pages.
    fake_upstream.auto_advance = False
    console = open_console(fake_upstream, CONSOLE_POLL_INTERVAL=3600)
    total = PAGE_SIZE + 3
    ids = [create_task(console, promptText=f"p{n}") for n in range(total)]
    first = console.get("/tasks").text
    assert card_ids(first) == ids[::-1][:PAGE_SIZE]
    assert f"Tasks 1–{PAGE_SIZE} of {total}, newest first" in first
    assert 'rel="next" href="/tasks?page=2"' in first
    second = console.get("/tasks", params={"page": "2"}).text
    assert card_ids(second) == ids[::-1][PAGE_SIZE:]
    assert f"Tasks {PAGE_SIZE + 1}–{total} of {total}" in second and 'rel="prev" href="/tasks"' in second
    filtered = console.get("/tasks", params={"q": "p", "page": "2"}).text
    assert 'href="/tasks?q=p">1</a>' in filtered
    beyond = console.get("/tasks", params={"page": "9"}).text
    assert card_ids(beyond) == [] and "There are only 2 pages (27 tasks)." in beyond


def test_cost_totals_by_day_and_model_follow_the_filter(console, fake_upstream, png):
    for task_id in [create_task(console, png, promptText="waves") for _ in range(2)]:
        wait_until(lambda task_id=task_id: finished(console, task_id))
    fake_upstream.auto_advance = False
    create_task(console, png, promptText="cat")
    page = console.get("/tasks").text
    # The fake upstream reports no cost: finished tasks count their catalogue estimate (25 each).
    assert "Cost: 50 credits (tasks: 3)" in page
    assert re.search(r"<td><code>gen4_turbo</code></td><td>3</td><td>50</td>", page)
    assert re.search(r"<td>\d{4}-\d\d-\d\d</td><td>3</td><td>50</td>", page)
    assert "Cost: 0 credits (tasks: 1)" in console.get("/tasks", params={"q": "cat"}).text


def test_only_unfinished_cards_are_polled_in_one_request(console, fake_upstream, png):
    done = create_task(console, png)
    wait_until(lambda: finished(console, done))
    fake_upstream.auto_advance = False
    running = create_task(console, png)
    page = console.get("/tasks").text
    live = re.search(r'<div id="gallery-live" hidden hx-get="([^"]+)" hx-trigger="every 3s"', page)
    assert live is not None
    url = live.group(1).replace("&amp;", "&")
    assert f"ids={running}&" in url and done not in url
    # A card comes back only when its task changed after `since` (a poll, a new run time).
    since = float(re.search(r"since=([0-9.]+)", url).group(1))  # type: ignore[union-attr]
    quiet = console.get(url.replace(f"since={since}", f"since={since + 10**6}"), headers=HTMX).text
    assert card_ids(quiet) == [] and 'id="gallery-live"' in quiet and "hx-get" in quiet
    assert done not in console.get(url, headers=HTMX).text
    fake_upstream.auto_advance = True
    wait_until(lambda: finished(console, running))
    news = console.get(url, headers=HTMX).text
    assert re.findall(r'id="card-([^"]+)"[^>]*hx-swap-oob="true"', news) == [running]
    assert "hx-get" not in news.split("<article")[0]  # nothing left to follow: polling stops


def test_the_live_request_never_shows_a_task_it_was_not_asked_for(console, png):
    task_id = create_task(console, png)
    assert card_ids(console.get("/gallery/live", params={"ids": "unknown,../x", "since": "0"}).text) == []
    assert card_ids(console.get("/gallery/live", params={"ids": task_id, "since": "0"}).text) == [task_id]
    assert console.get("/gallery/live", params={"since": "-1"}).status_code == 422


def test_a_poster_is_404_without_a_decodable_video(console, png):
    task_id = create_task(console, png)
    assert console.get(f"/tasks/{task_id}/poster.jpg").status_code == 404  # no video yet
    wait_until(lambda: finished(console, task_id))
    assert console.get(f"/tasks/{task_id}/poster.jpg").status_code == 404  # the fake CDN's bytes are no mp4
    assert console.get("/tasks/unknown-task/poster.jpg").status_code == 404
    assert console.get("/tasks/..%2Fconsole.db/poster.jpg").status_code == 404


@pytest.mark.parametrize("lang, words", [("en", "Gallery"), ("zh-CN", "作品库")])
def test_the_gallery_speaks_the_viewers_language(sim_console: Callable[..., Any], lang, words):
    page = sim_console.get("/tasks", headers={"Accept-Language": lang}).text
    assert f"<h1>{words}</h1>" in page
