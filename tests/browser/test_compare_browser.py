"""Comparisons in a real Chromium: two models, and two seeds, from the form's Compare disclosure to a grid
of videos side by side that one control plays in sync; the code tabs on the task page. The built-in
simulator is the upstream."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.actions import EN, VIDEO_TIMEOUT_MS

COMPARE_URL = r"/compare/[0-9a-f]{32}$"
ALL_VIDEOS_READY = (
    "(n) => { const vs = [...document.querySelectorAll('[data-sync-video]')];"
    " return vs.length === n && vs.every(v => v.readyState >= 2); }"
)
# The task page polls until its task settles: a test ends only then, before its server stops.
SETTLED = "() => document.getElementById('task-status').dataset.settled === 'true'"
TIMES = "() => [...document.querySelectorAll('[data-sync-video]')].map(v => v.currentTime)"
PLAYING = "() => [...document.querySelectorAll('[data-sync-video]')].every(v => !v.paused)"


def start_comparison(page, console_url: str, first, *, models: list[str] = (), seeds: str = "") -> None:
    page.goto(console_url + "/")
    page.set_input_files("#first_frame", str(first))
    page.fill("#promptText", "the tide comes in over the rocks")
    page.locator("#compare-fields summary").click()
    for model in models:
        page.locator(f'[data-compare-model][value="{model}"]').check()
    if seeds:
        page.fill("#seeds", seeds)
    estimate = page.locator("[data-compare-estimate]")
    expect(estimate).to_contain_text("2")
    page.get_by_role("button", name=EN["form.generate"]).click()
    page.wait_for_url(re.compile(re.escape(console_url) + COMPARE_URL))


def assert_side_by_side_and_in_sync(page, count: int) -> None:
    page.wait_for_function(ALL_VIDEOS_READY, arg=count, timeout=VIDEO_TIMEOUT_MS)
    boxes = [page.locator("[data-sync-video]").nth(i).bounding_box() for i in range(count)]
    assert all(box and box["width"] > 100 for box in boxes), boxes
    assert abs(boxes[0]["y"] - boxes[1]["y"]) < 2 and boxes[1]["x"] > boxes[0]["x"] + boxes[0]["width"] - 1
    assert page.evaluate("() => [...document.querySelectorAll('[data-sync-video]')].every(v => !v.controls)")
    assert page.evaluate(TIMES) == [0] * count

    play = page.locator("[data-sync-play]")
    expect(play).to_be_enabled()
    play.click()
    expect(play).to_have_attribute("aria-pressed", "true")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-sync-video]')].every(v => v.currentTime > 1)", timeout=10_000
    )
    assert page.evaluate(PLAYING)
    for _ in range(5):  # sampled while they play: every video keeps within a few frames of the others
        times = page.evaluate(TIMES)
        assert max(times) - min(times) < 0.3, times
        page.wait_for_timeout(150)

    # One seek moves them all; pause stops them all.
    seek = page.locator("[data-sync-seek]")
    seek.evaluate("(s) => { s.value = '0.5'; s.dispatchEvent(new Event('input', {bubbles: true})); }")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-sync-video]')].every(v => v.currentTime < 1.5)"
    )
    play.click()
    expect(play).to_have_attribute("aria-pressed", "false")
    assert page.evaluate("() => [...document.querySelectorAll('[data-sync-video]')].every(v => v.paused)")


def test_two_models_end_side_by_side_playing_in_sync(page, console_url, frame_files):
    first, _ = frame_files
    start_comparison(page, console_url, first, models=["gen3a_turbo"])

    labels = page.locator(".cell-model").all_inner_texts()
    assert labels == ["gen4_turbo", "gen3a_turbo"]
    expect(page.locator("#cell-1 .adjusted")).to_contain_text("1280:720")  # gen3a_turbo has no 16:9
    assert_side_by_side_and_in_sync(page, 2)


def test_two_seeds_end_side_by_side_playing_in_sync(page, console_url, frame_files):
    first, _ = frame_files
    start_comparison(page, console_url, first, seeds="2")

    seeds = page.locator(".cell-seed [data-seed]").all_inner_texts()
    assert len(set(seeds)) == 2
    assert_side_by_side_and_in_sync(page, 2)


def test_code_tabs_switch_and_copy(page, console_url, frame_files):
    first, _ = frame_files
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(console_url + "/")
    page.set_input_files("#first_frame", str(first))
    page.get_by_role("button", name=EN["form.generate"]).click()
    page.wait_for_url(re.compile(re.escape(console_url) + r"/tasks/[A-Za-z0-9-]+$"))

    tabs = page.get_by_role("tab")
    expect(tabs).to_have_count(3)
    expect(page.locator("#code-curl")).to_be_visible()
    expect(page.locator("#code-runwayml")).to_be_hidden()
    page.get_by_role("tab", name=EN["code.label_runwayml"]).click()
    expect(page.locator("#code-runwayml")).to_be_visible()
    expect(page.locator("#code-curl")).to_be_hidden()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tab", name=EN["code.label_httpx"])).to_be_focused()
    expect(page.locator("#code-httpx")).to_be_visible()

    page.locator("#code-httpx [data-copy-code]").click()
    expect(page.locator("#code-httpx [data-copy-code]")).to_have_text(EN["code.copied"])
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.startswith("import base64") and "httpx.Client(" in copied
    page.wait_for_function(SETTLED, timeout=VIDEO_TIMEOUT_MS)


def test_new_seed_from_the_task_page(page, console_url, frame_files):
    first, _ = frame_files
    page.goto(console_url + "/")
    page.set_input_files("#first_frame", str(first))
    page.fill("#seed", "1234")
    page.get_by_role("button", name=EN["form.generate"]).click()
    page.wait_for_url(re.compile(re.escape(console_url) + r"/tasks/[A-Za-z0-9-]+$"))
    old_url = page.url

    page.get_by_role("button", name=EN["task.new_seed"]).click()

    page.wait_for_url(lambda url: url != old_url and "/tasks/" in url)
    seed = page.locator("[data-seed]").inner_text().strip()
    assert seed != "1234" and re.fullmatch(r"\d+", seed)
    page.wait_for_function(SETTLED, timeout=VIDEO_TIMEOUT_MS)


def test_a_shared_comparison_plays_in_sync_for_a_stranger(pages, page, console_url, frame_files):
    first, _ = frame_files
    start_comparison(page, console_url, first, seeds="2")
    page.wait_for_function(ALL_VIDEOS_READY, arg=2, timeout=VIDEO_TIMEOUT_MS)
    page.get_by_role("button", name=EN["share.create"]).click()
    link = page.locator("#share-url").input_value()
    assert "/s/" in link

    stranger = pages.new()  # a fresh context: no cookies, no session
    stranger.goto(link)
    assert stranger.locator("form").count() == 0 and stranger.locator("a[href*='/tasks/']").count() == 0
    assert_side_by_side_and_in_sync(stranger, 2)
