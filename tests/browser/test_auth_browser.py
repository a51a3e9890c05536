"""Logging in, out and being attacked, in a real Chromium: a whole run behind the login, a page on
another loopback port that tries to create and cancel tasks through the logged-in browser, and two
accounts that cannot see each other's tasks."""

from __future__ import annotations

import json
import re

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.browser.actions import EN, fill_and_generate, task_url_pattern, wait_for_playing_video
from tests.fake_upstream import started
from tests.helpers import SECRET, add_account, wait_until

TEAM_PASSWORD = "correct horse battery"
# What Chromium logs about the attack page's refused requests; expected, not a console bug.
ATTACK_NOISE = (
    r"status of 403|Access-Control-Allow-Origin|CORS policy|frame-ancestors|Failed to fetch|net::ERR_FAILED"
)


def log_in(page, base: str, password: str, username: str | None = None) -> None:
    """Open the console, get sent to the login page, log in, and land on the form."""
    page.goto(base + "/")
    page.wait_for_url(re.compile(re.escape(base) + r"/login\?next=/$"))
    if username is not None:
        page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name=EN["auth.submit"]).click()
    page.wait_for_url(base + "/")


def test_log_in_make_a_video_log_out_and_land_on_the_login_page(pages, page, console, frame_files):
    pages.allow(r"status of 401 \(Unauthorized\) \(at http://127\.0\.0\.1:\d+/login\)")  # the wrong password
    base = console(CONSOLE_PASSWORD=TEAM_PASSWORD).url
    page.goto(base + "/tasks")
    page.wait_for_url(re.compile(re.escape(base) + r"/login\?next=/tasks$"))
    page.fill("#password", "not the password")
    page.get_by_role("button", name=EN["auth.submit"]).click()
    assert page.locator("#login-error").inner_text() == EN["auth.wrong_password"]

    page.fill("#password", TEAM_PASSWORD)
    page.get_by_role("button", name=EN["auth.submit"]).click()
    page.wait_for_url(base + "/tasks")  # back where it was going
    page.goto(base + "/")
    first, _ = frame_files
    fill_and_generate(page, first, None, "a lighthouse at dusk")
    page.wait_for_url(task_url_pattern(base))
    task_url = page.url
    video = wait_for_playing_video(page)
    assert str(video["src"]).startswith(base + "/")

    page.get_by_role("button", name=EN["auth.logout"]).click()
    page.wait_for_url(base + "/login")
    assert page.locator("#password").is_visible()
    assert page.get_by_role("button", name=EN["auth.logout"]).count() == 0
    page.goto(task_url)  # the video's page is closed again
    page.wait_for_url(re.compile(re.escape(base) + r"/login\?next=/tasks/"))


def attack_page(console_base: str, task_id: str) -> str:
    """A page on another origin that tries everything a page can without reading the answers."""
    fields = {
        "model": "gen4_turbo",
        "ratio": "1280:720",
        "duration": "5",
        "promptText": "paid for by someone else",
        "first_frame_url": "https://cdn.example.com/frame.png",
    }
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return f"""<!doctype html><html><head><link rel="icon" href="data:,"></head><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="create" action="{console_base}/tasks" method="post" enctype="multipart/form-data"
      target="sink1">{inputs}</form>
<form id="cancel" action="{console_base}/tasks/{task_id}/cancel" method="post" target="sink2"></form>
<form id="navigate" action="{console_base}/tasks" method="post">{inputs}</form>
<script>
window.loaded = 0;
document.querySelectorAll('iframe').forEach(f => f.addEventListener('load', () => {{ window.loaded += 1; }}));
document.getElementById('create').submit();
document.getElementById('cancel').submit();
const fields = {json.dumps(fields)};
const body = () => {{
  const d = new FormData();
  for (const [k, v] of Object.entries(fields)) d.append(k, v);
  return d;
}};
const opts = (extra) => Object.assign({{method: 'POST', credentials: 'include'}}, extra);
Promise.allSettled([
  fetch('{console_base}/tasks', opts({{body: body(), mode: 'no-cors'}})),
  fetch('{console_base}/tasks', opts({{body: body()}})),
  fetch('{console_base}/tasks/{task_id}/cancel', opts({{mode: 'no-cors'}})),
  fetch('{console_base}/tasks/{task_id}/cancel', opts({{headers: {{'HX-Request': 'true'}}}})),
]).then(() => {{ window.fetched = true; }});
</script></body></html>"""


def test_a_page_on_another_loopback_port_cannot_create_or_cancel_through_a_logged_in_browser(
    pages, page, console, serve, frame_files
):
    pages.allow(ATTACK_NOISE)
    fake = started(serve)
    fake.auto_advance = False  # the task stays PENDING: cancellable, if anyone could
    base = console(CONSOLE_PASSWORD=TEAM_PASSWORD, RUNWAYML_BASE_URL=fake.api_url, RUNWAYML_API_SECRET=SECRET).url
    log_in(page, base, TEAM_PASSWORD)
    first, _ = frame_files
    fill_and_generate(page, first, None, "my own task")
    page.wait_for_url(task_url_pattern(base))
    task_id = page.url.rsplit("/", 1)[1]
    assert len(fake.calls("POST")) == 1

    holder: dict[str, str] = {}
    attacker = serve(Starlette(routes=[Route("/", lambda request: HTMLResponse(holder["html"]))]))
    holder["html"] = attack_page(base, task_id)
    assert attacker.url != base and attacker.url.startswith("http://127.0.0.1:")  # same site, other origin

    page.goto(attacker.url + "/")
    page.wait_for_function("() => window.fetched === true && window.loaded >= 2")
    page.evaluate("() => document.getElementById('navigate').submit()")
    page.wait_for_url(base + "/tasks")
    # The session cookie went along (same site): the origin check, not the login, refused it.
    assert EN["auth.cross_origin"] in page.locator("main").inner_text()

    assert len(fake.calls("POST")) == 1 and fake.calls("DELETE") == []
    page.goto(f"{base}/tasks/{task_id}")
    assert page.locator("#task-status").get_attribute("data-status") == "PENDING"
    page.goto(base + "/tasks")
    assert page.locator("article.card").count() == 1


def test_two_accounts_cannot_see_each_others_tasks(pages, console, make_settings, frame_files):
    pages.allow(r"status of 404 \(Not Found\) \(at http://127\.0\.0\.1:\d+/tasks/")  # bob opening alice's task
    data_dir = make_settings().data_dir
    add_account(data_dir, "alice", "alice-password")
    add_account(data_dir, "bob", "bob-password")
    base = console().url
    alice, bob = pages.new(), pages.new()
    log_in(alice, base, "alice-password", "alice")
    log_in(bob, base, "bob-password", "bob")
    assert alice.locator(".logout-form .who").inner_text() == "alice"

    first, _ = frame_files
    fill_and_generate(alice, first, None, "alice's harbour")
    alice.wait_for_url(task_url_pattern(base))
    task_path = alice.url.removeprefix(base)
    frame_src = alice.locator(".frames img, .task-frames img, img[src*='/frames/']").first.get_attribute("src")

    answer = bob.goto(base + task_path)
    assert answer is not None and answer.status == 404
    assert bob.request.get(base + task_path + "/video.mp4").status == 404
    assert frame_src and bob.request.get(base + frame_src).status == 404
    bob.goto(base + "/tasks")
    assert task_path not in bob.content() and "alice&#39;s harbour" not in bob.content()
    alice.goto(base + "/tasks")
    wait_until(lambda: task_path in alice.content())


def test_an_htmx_request_after_the_session_ended_goes_to_the_login_page(pages, page, console, frame_files):
    pages.allow(r"status of 401 \(Unauthorized\) \(at http://127\.0\.0\.1:\d+/tasks\)")  # the refused hx-post
    base = console(CONSOLE_PASSWORD=TEAM_PASSWORD).url
    log_in(page, base, TEAM_PASSWORD)
    page.context.clear_cookies()  # as if logged out elsewhere, or the session expired
    first, _ = frame_files
    fill_and_generate(page, first, None, "never sent")
    page.wait_for_url(re.compile(re.escape(base) + r"/login\?next=/$"))
    assert page.locator("#password").is_visible()
