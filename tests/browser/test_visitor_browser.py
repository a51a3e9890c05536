"""Visitors bring their own key, in a real Chromium: two visitors (two browser contexts) each enter a
key, make a video, and cannot see each other's tasks; a wrong key is refused by its field; "Forget my
key" ends the visit. The built-in simulator is the upstream, told which key to accept (both visitors end up
with that key: what keeps them apart is their visit, not which key they hold)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.actions import EN, fill_and_generate, task_url_pattern, wait_for_playing_video

KEYS = ("key_alpha-visitor-7d1c5e9b20", "key_bravo-visitor-3a8f0b6d41")


def enter_key(page, base: str, key: str) -> None:
    page.goto(base + "/")
    page.wait_for_url(re.compile(re.escape(base) + r"/key\?next=/$"))
    page.get_by_label(EN["visitor.api_key"]).fill(key)
    page.get_by_role("button", name=EN["visitor.submit"]).click()
    page.wait_for_url(base + "/")


def test_two_visitors_each_use_their_own_key_and_see_only_their_own_tasks(pages, console, frame_files):
    first, _ = frame_files
    # The simulator accepts one key only: a visitor's key must reach it (never a server key).
    base = console(CONSOLE_VISITOR_KEYS="true", SIMULATOR_API_SECRET=KEYS[0]).url
    alpha = pages.new()
    enter_key(alpha, base, KEYS[0])
    fill_and_generate(alpha, first, None, "alpha's waves")
    alpha.wait_for_url(task_url_pattern(base))
    wait_for_playing_video(alpha)
    alpha_task = alpha.url

    bravo = pages.new()
    bravo.goto(base + "/key")
    # A key the simulator does not accept: refused by the field, and not written back into the page.
    pages.allow(r"401")
    bravo.get_by_label(EN["visitor.api_key"]).fill(KEYS[1])
    bravo.get_by_role("button", name=EN["visitor.submit"]).click()
    error = bravo.locator("#api_key-error")
    expect(error).to_contain_text("401")
    assert KEYS[1] not in bravo.content()
    assert bravo.get_by_label(EN["visitor.api_key"]).input_value() == ""

    # Bravo gets in with a key the simulator accepts; their own history is empty and Alpha's task is 404.
    bravo.get_by_label(EN["visitor.api_key"]).fill(KEYS[0])
    bravo.get_by_role("button", name=EN["visitor.submit"]).click()
    bravo.wait_for_url(base + "/")
    pages.allow(r"404")
    answer = bravo.goto(alpha_task)
    assert answer is not None and answer.status == 404
    bravo.goto(base + "/tasks")
    assert alpha_task.rsplit("/", 1)[1] not in bravo.content()
    bravo.goto(base + "/")
    fill_and_generate(bravo, first, None, "bravo's waves")
    bravo.wait_for_url(task_url_pattern(base))
    bravo_task = bravo.url
    assert bravo_task != alpha_task
    answer = alpha.goto(bravo_task)
    assert answer is not None and answer.status == 404

    # "Forget my key" is on every page and ends the visit: back to the key page.
    alpha.goto(base + "/")
    alpha.get_by_role("button", name=EN["visitor.forget"]).click()
    alpha.wait_for_url(base + "/key")
    alpha.goto(alpha_task)
    alpha.wait_for_url(re.compile(re.escape(base) + r"/key\?next="))
