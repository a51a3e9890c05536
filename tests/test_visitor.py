"""Visitors bring their own key (app/visitor_keys.py, app/routers/visitor.py): the key page, keys held in
memory only and never leaked, each visitor's tasks followed with their own key and shown to them alone,
the restart that forgets keys, the operator's list of upstreams, and the settings that go with it."""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from markupsafe import escape

from app.cli.serve import open_to_anyone
from app.config import ConfigError, load_settings
from app.i18n import load_messages
from app.storage import database_path
from tests.fake_upstream import FakeUpstream, started
from tests.helpers import FRAME_URL, SECRET, VALID_FORM, FakeClock, create_task, wait_until

EN = load_messages()["en"]
ZH = load_messages()["zh-CN"]
KEY_A = "key_visitor-ALPHA-4f0c9e2d17b3a8"
KEY_B = "key_visitor-BRAVO-93b1d7e6c02f55"
WRONG = "key_visitor-WRONG-000000000000"
JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true"}
TEAM_PASSWORD = "correct horse battery"
FORM = {**VALID_FORM, "first_frame_url": FRAME_URL}


def visitor_console(open_console, upstream: FakeUpstream | None, **overrides: object):
    """A console in visitor-keys mode with no server key, in front of `upstream` (None: the simulator)."""
    if upstream is not None:
        overrides = {"RUNWAYML_BASE_URL": upstream.api_url, **overrides}
    return open_console(None, CONSOLE_VISITOR_KEYS="true", **overrides)


def enter_key(console, key: str, **fields: str):
    return console.post("/key", data={"api_key": key, **fields})


def as_visitor(console, key: str) -> dict[str, str]:
    """Enter `key` in a fresh browser (no cookies); returns that browser's cookies."""
    console.cookies.clear()
    response = enter_key(console, key)
    assert response.status_code == 303, response.text
    return dict(console.cookies)


def use(console, cookies: dict[str, str]) -> None:
    console.cookies.clear()
    console.cookies.update(cookies)


@pytest.fixture
def keyed_upstream(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.accepted_keys = {KEY_A, KEY_B, SECRET}
    return fake_upstream


# --- the key page --------------------------------------------------------------------------------


def test_key_page_exists_only_in_visitor_mode(console):
    assert console.get("/key").status_code == 404
    assert console.post("/key", data={"api_key": KEY_A}).status_code == 404


def test_without_a_visitor_session_everything_leads_to_the_key_page(open_console, keyed_upstream):
    console = visitor_console(open_console, keyed_upstream)
    page = console.get("/")
    assert page.status_code == 303 and page.headers["location"] == "/key?next=/"
    htmx = console.get("/tasks", headers=HTMX)
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/key")
    api = console.get("/tasks", headers=JSON)
    assert api.status_code == 401 and api.json()["error"] == "key required"
    assert console.post("/tasks", data={"promptText": "x"}).status_code in (303, 401)
    key_page = console.get("/key")
    assert key_page.status_code == 200
    assert 'name="api_key"' in key_page.text and 'name="upstream"' not in key_page.text
    assert escape(EN["visitor.memory_only"]) in key_page.text
    assert keyed_upstream.requests == [] and keyed_upstream.organization_calls == 0


def test_key_page_speaks_chinese(open_console, keyed_upstream):
    console = visitor_console(open_console, keyed_upstream)
    console.cookies.set("lang", "zh-CN")
    page = console.get("/key")
    assert ZH["visitor.memory_only"] in page.text and ZH["visitor.title"] in page.text


def test_a_wrong_key_is_refused_by_the_field_and_nothing_is_kept(open_console, keyed_upstream):
    console = visitor_console(open_console, keyed_upstream)
    response = enter_key(console, WRONG)
    assert response.status_code == 401
    error = re.search(r'<p class="field-error" id="api_key-error"[^>]*>([^<]*)</p>', response.text)
    assert error and "401" in error.group(1)
    assert WRONG not in response.text
    assert "console_session" not in response.headers.get("set-cookie", "")
    assert console.get("/").status_code == 303  # still no visitor
    blank = enter_key(console, "")
    assert blank.status_code == 422 and EN["visitor.key_required"] in blank.text
    spaced = enter_key(console, "two words")
    assert spaced.status_code == 422 and "two words" not in spaced.text
    assert keyed_upstream.calls("POST") == []


def test_the_probe_asks_for_the_organization_then_for_a_made_up_task(open_console, keyed_upstream):
    console = visitor_console(open_console, keyed_upstream)
    as_visitor(console, KEY_A)
    # The fake has no organization (404, like most relays): a made-up task's 404 says the key is good.
    assert keyed_upstream.organization_calls == 1
    probes = keyed_upstream.calls("GET", "/v1/tasks/")
    assert len(probes) == 1 and uuid.UUID(probes[0].path.rsplit("/", 1)[1])
    assert keyed_upstream.keys_used() == [KEY_A]

    keyed_upstream.organization = {"creditBalance": 1234}
    keyed_upstream.requests.clear()
    as_visitor(console, KEY_B)
    assert keyed_upstream.requests == []  # the official API's answer is enough
    assert "1234" in console.get("/").text  # the visitor's own account, not the server's


def test_the_simulator_refuses_wrong_keys_when_it_has_a_secret(open_console):
    console = visitor_console(open_console, None, SIMULATOR_API_SECRET=KEY_A)
    assert enter_key(console, WRONG).status_code == 401
    assert enter_key(console, KEY_A).status_code == 303


def test_wrong_keys_are_locked_out_like_wrong_passwords(open_console, keyed_upstream):
    console = visitor_console(open_console, keyed_upstream)
    codes = [enter_key(console, WRONG).status_code for _ in range(4)]
    assert codes[:2] == [401, 401] and codes[-1] == 429
    locked = enter_key(console, KEY_A)
    assert locked.status_code == 429 and "Retry-After" in locked.headers


def test_a_cross_site_key_post_is_refused_and_sends_nothing(open_console, keyed_upstream):
    console = visitor_console(open_console, keyed_upstream)
    response = console.post("/key", data={"api_key": KEY_A}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    forget = console.post("/key/forget", headers={"Sec-Fetch-Site": "cross-site"})
    assert forget.status_code == 403
    assert keyed_upstream.organization_calls == 0 and keyed_upstream.requests == []


# --- whose key, whose tasks ------------------------------------------------------------------------


def test_a_visitor_task_is_created_and_followed_with_their_key_never_the_servers(open_console, keyed_upstream, png):
    # The server key is set here too (for API tokens): it must never speak for a visitor.
    console = visitor_console(open_console, keyed_upstream, RUNWAYML_API_SECRET=SECRET, CONSOLE_VISITOR_KEYS_API="true")
    as_visitor(console, KEY_A)
    task_id = create_task(console, png)
    console.cookies.clear()  # no tab open: only the poller works from here
    wait_until(lambda: keyed_upstream.calls("GET", "/cdn/"))
    wait_until(lambda: any(r.path.endswith(".mp4") for r in keyed_upstream.calls("GET", "/cdn/")))
    keys = keyed_upstream.keys_used()
    assert set(keys) == {KEY_A}, keys
    assert len(keyed_upstream.calls("GET", f"/v1/tasks/{task_id}")) >= 2
    cdn = keyed_upstream.calls("GET", "/cdn/")
    assert all("authorization" not in r.headers for r in cdn)


def test_two_visitors_cannot_see_each_others_tasks(open_console, keyed_upstream, png):
    console = visitor_console(open_console, keyed_upstream)
    alpha = as_visitor(console, KEY_A)
    task_a = create_task(console, png)
    wait_until(lambda: console.get(f"/tasks/{task_a}", headers=JSON).json()["video"])
    ref = re.search(r"/frames/([0-9a-f]{64}\.png)", console.get(f"/tasks/{task_a}").text).group(1)
    bravo = as_visitor(console, KEY_B)
    for path in (
        f"/tasks/{task_a}",
        f"/tasks/{task_a}/status",
        f"/tasks/{task_a}/video.mp4",
        f"/tasks/{task_a}/request.json",
        f"/frames/{ref}",
    ):
        assert console.get(path).status_code == 404, path
    assert console.post(f"/tasks/{task_a}/cancel").status_code == 404
    assert task_a not in console.get("/tasks").text + console.get("/").text
    task_b = create_task(console, png)
    wait_until(lambda: keyed_upstream.calls("GET", f"/v1/tasks/{task_b}"))
    use(console, alpha)
    assert console.get(f"/tasks/{task_b}").status_code == 404
    assert console.get(f"/tasks/{task_a}").status_code == 200
    # Each task went upstream with its own visitor's key.
    assert set(keyed_upstream.keys_used(task_a)) == {KEY_A}
    assert set(keyed_upstream.keys_used(task_b)) == {KEY_B}
    use(console, bravo)


def test_the_hourly_cap_counts_each_visitor_apart(open_console, keyed_upstream, png):
    console = visitor_console(open_console, keyed_upstream, CONSOLE_TASKS_PER_HOUR=1)
    as_visitor(console, KEY_A)
    create_task(console, png)
    second = console.post("/tasks", data=FORM)
    assert second.status_code == 429
    as_visitor(console, KEY_B)
    create_task(console, png)
    assert len(keyed_upstream.calls("POST")) == 2


def test_forget_my_key_ends_the_visit(open_console, keyed_upstream, png):
    console = visitor_console(open_console, keyed_upstream)
    as_visitor(console, KEY_A)
    page = console.get("/")
    assert EN["visitor.forget"] in page.text and 'action="/key/forget"' in page.text
    response = console.post("/key/forget")
    assert response.status_code == 303 and response.headers["location"] == "/key"
    assert "console_session=;" in response.headers["set-cookie"]
    assert console.get("/").status_code == 303


def test_api_tokens_are_off_in_visitor_mode_unless_the_operator_says_so(open_console, keyed_upstream):
    token = "rc_test-token-0123456789abcdef"
    body = {"model": "gen4_turbo", "promptImage": "https://cdn.example.com/f.png", "ratio": "1280:720"}
    headers = {"Authorization": f"Bearer {token}", "X-Runway-Version": "2024-11-06"}
    off = visitor_console(open_console, keyed_upstream, CONSOLE_API_TOKENS=f"ci={token}")
    assert off.post("/v1/image_to_video", json=body, headers=headers).status_code == 403
    assert keyed_upstream.calls("POST") == []
    on = visitor_console(
        open_console,
        keyed_upstream,
        CONSOLE_API_TOKENS=f"ci={token}",
        RUNWAYML_API_SECRET=SECRET,
        CONSOLE_VISITOR_KEYS_API="true",
        CONSOLE_DATA_DIR=Path.cwd() / "other-data",
    )
    assert on.post("/v1/image_to_video", json=body, headers=headers).status_code == 200
    assert keyed_upstream.keys_used() == [SECRET]


# --- the operator's list of upstreams --------------------------------------------------------------


def test_only_an_upstream_from_the_operators_list_is_ever_contacted(open_console, serve, png):
    first, second = started(serve), started(serve)
    for fake in (first, second):
        fake.accepted_keys = {KEY_A}
    console = open_console(
        None, CONSOLE_VISITOR_KEYS="true", CONSOLE_VISITOR_UPSTREAMS=f"{first.api_url},{second.api_url}"
    )
    page = console.get("/key")
    assert page.text.count("<option") == 2 and 'name="upstream"' in page.text
    for bad in ("http://127.0.0.1:1/evil", f"{first.api_url}/../x", ""):
        refused = enter_key(console, KEY_A, upstream=bad)
        assert refused.status_code == 422, bad
        assert EN["visitor.upstream_unknown"] in refused.text
    assert first.organization_calls == second.organization_calls == 0 and not first.requests + second.requests
    assert enter_key(console, KEY_A, upstream=second.api_url).status_code == 303
    create_task(console, png)
    assert first.requests == [] and first.organization_calls == 0
    assert len(second.calls("POST")) == 1


# --- a restart forgets every key -----------------------------------------------------------------------


def test_after_a_restart_the_visitor_enters_the_key_again_and_nothing_is_sent_meanwhile(
    open_console, keyed_upstream, png
):
    clock = FakeClock()
    keyed_upstream.auto_advance = False
    console = visitor_console(open_console, keyed_upstream, clock=clock)
    cookies = as_visitor(console, KEY_A)
    task_id = create_task(console, png)
    console.__exit__(None, None, None)
    sent_before = len(keyed_upstream.requests)

    again = visitor_console(open_console, keyed_upstream, clock=clock)
    use(again, cookies)
    db = sqlite3.connect(database_path(Path.cwd() / "data"))
    try:
        clock.advance(5)
        # The poller looks at the task, holds no key for it, and puts it off without sending anything.
        wait_until(
            lambda: db.execute("SELECT next_poll_at FROM tasks WHERE id = ?", (task_id,)).fetchone()[0] >= clock() + 30
        )
    finally:
        db.close()
    assert len(keyed_upstream.requests) == sent_before
    page = again.get(f"/tasks/{task_id}")
    assert page.status_code == 200, (page.headers.get("location"), again.cookies, cookies)
    assert page.status_code == 200 and EN["visitor.task_key_lost"] in page.text
    form = again.get("/")
    assert EN["visitor.key_first"] in form.text
    assert re.search(r'<button type="submit" class="primary" disabled aria-describedby="key-first">', form.text)
    refused = again.post("/tasks", data=FORM)
    assert refused.status_code == 409 and EN["visitor.key_first"] in refused.text
    assert again.post(f"/tasks/{task_id}/cancel").status_code == 409
    assert len(keyed_upstream.requests) == sent_before

    assert enter_key(again, KEY_A).status_code == 303
    assert again.cookies.get("console_session") == cookies["console_session"]  # the same visit
    wait_until(lambda: len(keyed_upstream.calls("GET", f"/v1/tasks/{task_id}")) >= 1)
    assert set(keyed_upstream.keys_used(task_id)) == {KEY_A}
    assert EN["visitor.task_key_lost"] not in again.get(f"/tasks/{task_id}").text


# --- with a team password ----------------------------------------------------------------------------


def test_with_a_team_password_visitors_log_in_first(open_console, keyed_upstream, png):
    console = visitor_console(open_console, keyed_upstream, CONSOLE_PASSWORD=TEAM_PASSWORD)
    assert console.get("/").headers["location"].startswith("/login")
    assert console.get("/key").headers["location"].startswith("/login")
    assert enter_key(console, KEY_A).status_code == 303
    assert keyed_upstream.organization_calls == 0
    assert console.post("/login", data={"password": TEAM_PASSWORD}).status_code == 303
    assert console.get("/").headers["location"].startswith("/key")
    assert enter_key(console, KEY_A).status_code == 303
    task_id = create_task(console, png)
    assert console.get(f"/tasks/{task_id}").status_code == 200
    console.post("/key/forget")
    assert console.get("/").headers["location"].startswith("/login")


# --- no key anywhere it should not be -------------------------------------------------------------


def test_neither_key_reaches_a_page_a_header_a_log_line_or_a_file(open_console, keyed_upstream, png, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def keep(response):
        seen.append(response.text)
        seen.append(str(response.headers))
        return response

    console = visitor_console(open_console, keyed_upstream, RUNWAYML_API_SECRET=SECRET, CONSOLE_VISITOR_KEYS_API="true")
    keep(enter_key(console, WRONG))
    keep(enter_key(console, KEY_A))
    # Upstreams that echo the key back, in an error and in a failure text, are scrubbed.
    keyed_upstream.queue("create", status=500, body=f'{{"error": "bad key {KEY_A} / {SECRET}"}}')
    keep(console.post("/tasks", data=FORM))
    keyed_upstream.queue("get", status=502, body=f"<html><title>{KEY_A}</title></html>", content_type="text/html")
    task_id = create_task(console, png)
    keyed_upstream.final_status[task_id] = {"status": "FAILED", "failure": f"key {KEY_A} refused"}
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers=JSON).json()["status"] == "FAILED")
    for path in ("/", "/tasks", f"/tasks/{task_id}", f"/tasks/{task_id}/status", f"/tasks/{task_id}/request.json"):
        keep(console.get(path))
        keep(console.get(path, headers=JSON))
    keep(console.get("/key"))
    keep(console.post("/key/forget"))
    console.__exit__(None, None, None)

    assert seen
    for text in seen + [r.getMessage() for r in caplog.records] + [caplog.text]:
        for secret in (KEY_A, WRONG, SECRET):
            assert secret not in text
    files = [p for p in (Path.cwd() / "data").rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") or p.suffix == ".db" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (KEY_A, WRONG, SECRET):
            assert secret.encode() not in data, path


# --- settings and start-up -----------------------------------------------------------------------------


def test_settings_that_cannot_go_with_visitor_keys_are_refused():
    with pytest.raises(ConfigError, match="CONSOLE_HISTORY=shared"):
        load_settings(CONSOLE_VISITOR_KEYS="true", CONSOLE_HISTORY="shared", _env_file=None)
    with pytest.raises(ConfigError, match="CONSOLE_VISITOR_KEYS_API"):
        load_settings(
            CONSOLE_VISITOR_KEYS="true",
            RUNWAYML_BASE_URL="https://relay.example/runwayml",
            RUNWAYML_API_SECRET=SECRET,
            _env_file=None,
        )
    with pytest.raises(ConfigError, match="needs RUNWAYML_API_SECRET"):
        load_settings(
            CONSOLE_VISITOR_KEYS="true",
            RUNWAYML_BASE_URL="https://relay.example/runwayml",
            CONSOLE_VISITOR_KEYS_API="true",
            _env_file=None,
        )
    with pytest.raises(ConfigError, match="CONSOLE_VISITOR_UPSTREAMS"):
        load_settings(CONSOLE_VISITOR_UPSTREAMS="ftp://relay.example", _env_file=None)
    listed = load_settings(
        CONSOLE_VISITOR_KEYS="true",
        CONSOLE_VISITOR_UPSTREAMS=" https://a.example/runwayml/ ,https://b.example,https://a.example/runwayml",
        _env_file=None,
    )
    assert listed.visitor_upstream_list == ["https://a.example/runwayml", "https://b.example"]
    assert listed.base_url == "https://a.example/runwayml" and not listed.uses_simulator


@pytest.mark.parametrize(
    ("mode", "guarded"),
    [
        ({"CONSOLE_VISITOR_KEYS": "true"}, True),
        ({"CONSOLE_VISITOR_KEYS": "true", "RUNWAYML_API_SECRET": SECRET, "CONSOLE_VISITOR_KEYS_API": "true"}, True),
        ({"RUNWAYML_API_SECRET": SECRET}, False),
    ],
    ids=["visitor-keys", "visitor-keys-and-api", "server-key-only"],
)
def test_visitor_keys_count_as_a_guard_on_a_public_address(tmp_path, mode, guarded):
    settings = load_settings(
        RUNWAYML_BASE_URL="https://relay.example/runwayml", CONSOLE_DATA_DIR=tmp_path, _env_file=None, **mode
    )
    refusal = open_to_anyone(settings, "0.0.0.0")
    if guarded:
        assert refusal is None
    else:
        assert refusal is not None and "CONSOLE_VISITOR_KEYS=true" in refusal
