"""The console in a real Chromium: uploads, HTMX swaps, model switching, polling, video playback, i18n,
no-JS fallback and serving under a path prefix. The built-in simulator is the upstream throughout."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.sync_api import expect

from app.catalogue import SEED_MAX
from app.i18n import load_messages
from app.main import create_app
from app.routers.tasks import STATUS_REFRESH_SECONDS

VIDEO_TIMEOUT_MS = 30_000
VIDEO_READY = "() => { const v = document.querySelector('video'); return !!v && v.readyState >= 2; }"
FAILED_LOAD_422 = r"Failed to load resource: the server responded with a status of 422"
STATUS_REFRESH_MS = STATUS_REFRESH_SECONDS * 1000
# htmx announces each request it is about to send; counted in the page, as the timers fire.
COUNT_POLLS = (
    "() => { window.__polls = 0;"
    " document.addEventListener('htmx:beforeRequest', () => { window.__polls += 1; }); }"
)

EN = load_messages()["en"]
ZH = load_messages()["zh-CN"]


def task_url_pattern(base: str) -> re.Pattern[str]:
    return re.compile(re.escape(base) + r"/tasks/[A-Za-z0-9-]+$")


def fill_and_generate(page, first: Path, last: Path | None, prompt: str) -> None:
    """Attach frames, check their previews appeared, type the prompt and press Generate."""
    page.set_input_files("#first_frame", str(first))
    if last is not None:
        page.set_input_files("#last_frame", str(last))
    for position, attached in (("first", True), ("last", last is not None)):
        if attached:
            preview = page.locator(f"#{position}_frame-fieldset [data-preview-img]")
            page.wait_for_function(
                "(img) => img.src.startsWith('blob:') && !img.hidden && img.complete && img.naturalWidth > 0",
                arg=preview.element_handle(),
            )
    page.fill("#promptText", prompt)
    page.get_by_role("button", name=EN["form.generate"]).click()


def wait_for_playing_video(page) -> dict[str, object]:
    page.wait_for_function(VIDEO_READY, timeout=VIDEO_TIMEOUT_MS)
    return page.evaluate(
        "() => { const v = document.querySelector('video');"
        " return {src: v.currentSrc, duration: v.duration, width: v.videoWidth, height: v.videoHeight}; }"
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


def test_validation_errors_render_in_place_by_their_field(pages, page, console_url, frame_files):
    pages.allow(FAILED_LOAD_422)
    first, _ = frame_files
    page.goto(console_url + "/")
    page.evaluate("() => { window.__sameDocument = true; }")

    # No first frame: the form comes back in place with the message in the first-frame card.
    page.fill("#promptText", "a quiet harbour at dawn")
    page.get_by_role("button", name=EN["form.generate"]).click()
    error = page.locator("#first_frame-fieldset .field-error")
    error.wait_for()
    assert error.inner_text() == EN["errors.first_frame_required"]
    assert page.locator("#first_frame-error").count() == 1
    assert page.locator("#first_frame").get_attribute("aria-describedby") == "first_frame-error"
    assert page.input_value("#promptText") == "a quiet harbour at dawn"
    assert page.url == console_url + "/"
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded instead of swapped"

    # A seed that is not a number: message by the seed, everything else (frame included) kept.
    page.set_input_files("#first_frame", str(first))
    page.select_option("#ratio", "720:1280")
    page.select_option("#duration", "10")
    page.fill("#seed", "abc")
    page.get_by_role("button", name=EN["form.generate"]).click()
    seed_error = page.locator("#seed-error")
    seed_error.wait_for()
    assert seed_error.inner_text() == EN["errors.seed_not_integer"]
    assert page.locator("#first_frame-error").count() == 0
    assert page.input_value("#seed") == "abc"
    assert page.input_value("#promptText") == "a quiet harbour at dawn"
    assert page.input_value("#ratio") == "720:1280"
    assert page.input_value("#duration") == "10"
    assert page.locator("input[name=first_frame_ref]").count() == 1, "the uploaded frame was not kept"
    kept = page.locator("#first_frame-fieldset [data-preview-img]").get_attribute("src") or ""
    assert kept.startswith("/frames/")
    assert page.url == console_url + "/"
    assert page.evaluate("() => window.__sameDocument === true")


def test_switching_model_updates_options_last_frame_and_estimate(page, console, tmp_path):
    catalogue = {
        "currency": "credits",
        "models": [
            {
                "id": "duo",
                "label": "Duo",
                "ratios": ["1280:720", "720:1280"],
                "durations": [5, 10],
                "positions": ["first", "last"],
                "prices": {"5": 25, "10": 50},
            },
            {
                "id": "solo",
                "label": "Solo",
                "ratios": ["960:960", "1584:672", "832:1104"],
                "durations": [3, 6, 9],
                "positions": ["first"],
                "prompt_max_units": 500,
                "prices": {"3": 7.5, "6": 15, "9": 22.5},
            },
        ],
    }
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue), "utf-8")
    url = console(CONSOLE_CATALOGUE=str(path)).url
    page.goto(url + "/")

    def options(selector: str) -> list[str]:
        return page.locator(f"{selector} option").evaluate_all("(os) => os.map(o => o.value)")

    estimate = page.locator("[data-estimate]")
    last_fieldset = page.locator("#last_frame-fieldset")
    assert options("#ratio") == ["1280:720", "720:1280"]
    assert options("#duration") == ["5", "10"]
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 25 credits"
    assert last_fieldset.get_attribute("disabled") is None
    assert last_fieldset.locator(".last-frame-off").is_hidden()
    page.evaluate("() => { window.__sameDocument = true; }")

    page.select_option("#model", "solo")
    assert options("#ratio") == ["960:960", "1584:672", "832:1104"]
    assert options("#duration") == ["3", "6", "9"]
    assert page.locator("#duration option").all_inner_texts() == ["3 s", "6 s", "9 s"]
    assert last_fieldset.get_attribute("disabled") is not None
    assert page.locator("#last_frame").is_disabled()
    assert last_fieldset.locator(".last-frame-off").is_visible()
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 7.5 credits"
    assert page.locator("[data-prompt-max]").inner_text() == "500"
    page.select_option("#duration", "9")
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 22.5 credits"

    page.select_option("#model", "duo")
    assert options("#ratio") == ["1280:720", "720:1280"]
    assert options("#duration") == ["5", "10"]
    assert last_fieldset.get_attribute("disabled") is None
    assert page.locator("#last_frame").is_enabled()
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 25 credits"
    assert page.evaluate("() => window.__sameDocument === true"), "switching models reloaded the page"


def test_roll_seed_fills_a_valid_seed(page, console_url):
    page.goto(console_url + "/")
    assert page.input_value("#seed") == ""
    rolled = set()
    for _ in range(3):
        page.click("[data-roll-seed]")
        value = page.input_value("#seed")
        assert re.fullmatch(r"\d+", value), value
        assert 0 <= int(value) <= SEED_MAX
        rolled.add(value)
    assert len(rolled) > 1, "three rolls gave the same seed"


def test_moderation_failure_is_explained_and_polling_stops(page, console_url, frame_files):
    first, _ = frame_files
    # The page's timers run on a clock the test moves: htmx polls exactly when the test says so.
    page.clock.install()
    page.goto(console_url + "/")
    fill_and_generate(page, first, None, "a cat on a fence [sim:moderation]")
    page.wait_for_url(task_url_pattern(console_url))
    page.evaluate(COUNT_POLLS)

    status = page.locator("#task-status")
    live = page.locator("#task-status-live")
    assert live.inner_text() == ""  # nothing is announced when the page opens
    live.evaluate("(region) => { region.dataset.original = 'yes'; }")
    for _ in range(50):  # the simulator fails the task within a second: a few polls
        if status.get_attribute("data-settled") == "true":
            break
        status.evaluate("(box) => { box.dataset.replaced = 'no'; }")
        page.clock.run_for(STATUS_REFRESH_MS)
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
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/status") else None)
    page.evaluate("() => { window.__polls = 0; }")
    page.clock.run_for(2 * STATUS_REFRESH_MS + 500)
    assert page.evaluate("() => window.__polls") == 0
    assert polls == []

    # The one live region, never replaced by the polls, announced the outcome once.
    expect(live).to_have_text(f"{EN['status.FAILED']} {EN['failure.input_safety.title']}")
    assert live.get_attribute("data-original") == "yes"
    assert live.get_attribute("aria-live") == "polite"


def test_a_replaced_preview_frees_its_object_url(pages, page, console_url, frame_files):
    pages.allow(r"ERR_FILE_NOT_FOUND")  # the fetch of the revoked URL below, meant to fail
    first, last = frame_files
    page.goto(console_url + "/")
    preview = page.locator("#first_frame-fieldset [data-preview-img]")
    page.set_input_files("#first_frame", str(first))
    expect(preview).to_have_attribute("src", re.compile("^blob:"))
    old = preview.get_attribute("src")
    page.set_input_files("#first_frame", str(last))
    expect(preview).not_to_have_attribute("src", old or "")
    new = preview.get_attribute("src") or ""
    assert new.startswith("blob:")
    load = (
        "(url) => new Promise((done) => { const img = new Image();"
        " img.onload = () => done('alive'); img.onerror = () => done('revoked'); img.src = url; })"
    )
    assert page.evaluate(load, old) == "revoked"
    assert page.evaluate(load, new) == "alive"


def test_language_follows_browser_then_sticks_after_switching(pages, console_url):
    page = pages.new(locale="zh-CN")
    page.goto(console_url + "/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#task-form button[type=submit]").inner_text().strip() == ZH["form.generate"]
    assert ZH["form.generate"] != EN["form.generate"]

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the new page has loaded
    assert page.url == console_url + "/"
    assert page.locator("#task-form button[type=submit]").inner_text().strip() == EN["form.generate"]

    page.reload()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#task-form button[type=submit]").inner_text().strip() == EN["form.generate"]
    assert page.locator(".langs [aria-current]").inner_text() == "English"


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
    app = create_app(make_settings(CONSOLE_ROOT_PATH="/runway"))
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
    assert any(u.endswith("/status") for u in http), "the status was never polled"
    outside = [u for u in http if not u.startswith(base + "/runway/")]
    assert outside == [], outside
    assert all(u.startswith(("http:", "blob:")) for u in requested), requested
