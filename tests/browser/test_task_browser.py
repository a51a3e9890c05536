"""The task page in a real Chromium: two frames to a playing video, a failure explained and polling
stopped, the no-JS fallback and serving under a path prefix. The built-in simulator is the upstream."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.config import DEFAULT_PAGE_REFRESH_SECONDS
from app.main import create_app
from tests.browser.actions import (
    EN,
    PAGE_REFRESH_SECONDS,
    VIDEO_TIMEOUT_MS,
    fill_and_generate,
    task_url_pattern,
    wait_for_playing_video,
)

STATUS_REFRESH_MS = int(PAGE_REFRESH_SECONDS * 1000)
DEFAULT_REFRESH_MS = int(DEFAULT_PAGE_REFRESH_SECONDS * 1000)
STATUS_POLL = re.compile(r"/status(\?v=[^&]+)?$")  # the page sends the version it shows
# htmx announces each request it is about to send; counted in the page, as the timers fire.
COUNT_POLLS = (
    "() => { window.__polls = 0;"
    " document.addEventListener('htmx:beforeRequest', () => { window.__polls += 1; }); }"
)


def test_happy_path_first_and_last_frame_to_playing_video(page, console_url, frame_files):
    first, last = frame_files
    page.goto(console_url + "/")
    assert page.locator("#first_frame-fieldset [data-preview-img]").get_attribute("src") is None

    fill_and_generate(page, first, last, "the waves roll in slowly, camera pans right")

    page.wait_for_url(task_url_pattern(console_url))
    video = wait_for_playing_video(page)
    assert str(video["src"]).startswith(console_url + "/"), video
    assert 4.5 <= float(video["duration"]) <= 5.5, video
    assert int(video["width"]) > 0 and int(video["height"]) > 0
    assert re.fullmatch(r"\d+", page.locator("[data-seed]").inner_text().strip())
    download = page.get_by_role("link", name=EN["task.download"])
    href = download.get_attribute("href")
    assert href and href.startswith("/tasks/") and "download=1" in href
    assert page.locator("#task-status").get_attribute("data-status") == "SUCCEEDED"


def test_moderation_failure_is_explained_and_polling_stops(page, console, frame_files):
    first, _ = frame_files
    # The page's timers run on a clock the test moves: htmx polls exactly when the test says so. The
    # task waits three seconds before its moderation verdict, so the page opens on it unsettled however
    # slowly a loaded machine serves it, and the page polls at the default interval.
    console_url = console(CONSOLE_PAGE_REFRESH_SECONDS=DEFAULT_REFRESH_MS / 1000, SIMULATOR_PENDING_SECONDS=3).url
    page.clock.install()
    page.goto(console_url + "/")
    task_page = task_url_pattern(console_url)
    opens_task_page = lambda r: r.request.resource_type == "document" and bool(task_page.search(r.url))  # noqa: E731
    with page.expect_response(opens_task_page) as opened:
        fill_and_generate(page, first, None, "a cat on a fence [sim:moderation]")
    page.wait_for_url(task_page)
    page.evaluate(COUNT_POLLS)

    status = page.locator("#task-status")
    live = page.locator("#task-status-live")
    # Nothing is announced when the page opens (the page's first poll may already have come since).
    assert re.search(r'<p id="task-status-live"[^>]*></p>', opened.value.text())
    live.evaluate("(region) => { region.dataset.original = 'yes'; }")
    for _ in range(400):  # each round is one poll, answered in real time: the verdict comes in seconds
        if status.get_attribute("data-settled") == "true":
            break
        status.evaluate("(box) => { box.dataset.replaced = 'no'; }")
        page.clock.run_for(DEFAULT_REFRESH_MS)
        expect(page.locator("#task-status[data-replaced]")).to_have_count(0)  # the poll's answer swapped in
    assert page.evaluate("() => window.__polls") >= 1
    expect(status).to_have_attribute("data-settled", "true")
    assert status.get_attribute("data-status") == "FAILED"
    assert status.locator(".status").inner_text() == EN["status.FAILED"]
    assert status.locator("code").inner_text() == "INPUT_PREPROCESSING.SAFETY.TEXT"
    text = status.inner_text()
    assert EN["failure.input_safety.title"] in text
    assert EN["failure.input_safety.advice"] in text
    assert status.get_attribute("hx-trigger") is None
    assert status.locator("video").count() == 0

    # Polling really stopped: no status request over two more refresh periods.
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if STATUS_POLL.search(r.url) else None)
    page.evaluate("() => { window.__polls = 0; }")
    page.clock.run_for(2 * DEFAULT_REFRESH_MS + 500)
    assert page.evaluate("() => window.__polls") == 0
    assert polls == []

    # The one live region, never replaced by the polls, announced the outcome once.
    expect(live).to_have_text(f"{EN['status.FAILED']} {EN['failure.input_safety.title']}")
    assert live.get_attribute("data-original") == "yes"
    assert live.get_attribute("aria-live") == "polite"


def test_works_without_javascript(pages, console_url, frame_files):
    first, last = frame_files
    page = pages.new(java_script_enabled=False)
    documents: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: documents.append((r.url, r.status)) if r.request.resource_type == "document" else None,
    )
    page.goto(console_url + "/")
    page.set_input_files("#first_frame", str(first))
    page.set_input_files("#last_frame", str(last))
    page.fill("#promptText", "no scripts needed")
    page.click("#task-form button[type=submit]")
    page.wait_for_url(task_url_pattern(console_url))
    assert (console_url + "/tasks", 303) in documents

    # No HTMX: the noscript meta refresh reloads the page until the video is there.
    page.locator("video").wait_for(timeout=VIDEO_TIMEOUT_MS)
    task_loads = [u for u, s in documents if task_url_pattern(console_url).match(u) and s == 200]
    assert len(task_loads) >= 2, documents
    assert page.locator("#task-status").get_attribute("data-status") == "SUCCEEDED"
    assert page.locator("head noscript").count() == 0, "a finished task should stop refreshing"


class PrefixProxy:
    """Like nginx `location /runway/ { proxy_pass http://app/; }`: strips the prefix, 404s the rest."""

    def __init__(self, app, prefix: str) -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(self.prefix + "/"):
            await send({"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"outside the proxied prefix"})
            return
        inner = path[len(self.prefix) :]
        await self.app(dict(scope, path=inner, raw_path=inner.encode()), receive, send)


def test_under_a_path_prefix(page, make_settings, serve, frame_files):
    first, last = frame_files
    app = create_app(make_settings(CONSOLE_ROOT_PATH="/runway", CONSOLE_PAGE_REFRESH_SECONDS=PAGE_REFRESH_SECONDS))
    base = serve(PrefixProxy(app, "/runway")).url
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))

    page.goto(base + "/runway/")
    assert page.locator("#task-form").get_attribute("action") == "/runway/tasks"
    fill_and_generate(page, first, last, "under a prefix")
    page.wait_for_url(task_url_pattern(base + "/runway"))
    video = wait_for_playing_video(page)
    assert str(video["src"]).startswith(base + "/runway/"), video
    assert 4.5 <= float(video["duration"]) <= 5.5

    http = [u for u in requested if u.startswith(("http:", "https:"))]
    assert any(STATUS_POLL.search(u) for u in http), "the status was never polled"
    outside = [u for u in http if not u.startswith(base + "/runway/")]
    assert outside == [], outside
    assert all(u.startswith(("http:", "blob:")) for u in requested), requested


def test_an_unchanged_task_is_answered_204_the_box_stays_and_its_elapsed_time_counts_on(page, console, frame_files):
    first, _ = frame_files
    url = console(SIMULATOR_PENDING_SECONDS=0, SIMULATOR_RUNNING_SECONDS=3600).url
    page.clock.install()
    page.goto(url + "/")
    fill_and_generate(page, first, None, "a slow sunrise over the bay")
    page.wait_for_url(task_url_pattern(url))
    status = page.locator("#task-status")
    answers: list[tuple[str, int]] = []
    page.on("response", lambda r: answers.append((r.url, r.status)) if "/status" in r.url else None)

    # The page's own polls, against the real server: an unchanged task is answered 204 and the box stays.
    # Progress moves now and then (a 200 and a swap, which htmx makes after the response event), so a round
    # counts only when the round before it was unchanged too: then no earlier swap can still land.
    previous_unchanged = False
    for _ in range(40):
        status.evaluate("(box) => { box.dataset.replaced = 'no'; }")
        answers.clear()
        with page.expect_response(lambda r: "/status" in r.url):
            page.clock.run_for(STATUS_REFRESH_MS)
        unchanged = bool(answers) and all(status == 204 for _, status in answers)
        if unchanged and previous_unchanged and page.locator("#task-status[data-replaced]").count() == 1:
            break
        previous_unchanged = unchanged
    else:
        pytest.fail(f"no two unchanged rounds in a row left the box in place; last answers: {answers}")
    assert "?v=" in answers[-1][0]  # the page sent the version it shows

    # While the server keeps saying "unchanged", polling goes on and the elapsed time counts in the page.
    page.route("**/status?v=*", lambda route: route.fulfill(status=204, body=""))
    with page.expect_response(lambda r: "/status" in r.url):  # any answer still on its way lands first
        page.clock.run_for(STATUS_REFRESH_MS)
    status.evaluate("(box) => { box.dataset.replaced = 'no'; }")
    page.evaluate(COUNT_POLLS)
    elapsed = status.locator(".elapsed")
    before = int(re.search(r"\d+", elapsed.inner_text()).group())
    rounds = 10_000 // STATUS_REFRESH_MS  # ten seconds of polling
    for _ in range(rounds):
        with page.expect_response(lambda r: "/status" in r.url):
            page.clock.run_for(STATUS_REFRESH_MS)
    assert page.evaluate("() => window.__polls") >= rounds
    expect(page.locator("#task-status[data-replaced]")).to_have_count(1)
    # One read: the page clock also runs on its own between two reads.
    shown = elapsed.inner_text()
    after = int(re.search(r"\d+", shown).group())
    assert after - before >= 9, (before, after)
    assert shown == EN["task.elapsed"].format(seconds=after)
