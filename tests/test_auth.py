"""Who may use the console (app/auth.py, app/gate.py, app/access.py, app/login_lockout.py,
app/routers/auth.py): every route refused without a session, logins by team password and by account,
sessions that logout, account removal and password changes end, the lockout, private history, task
owners and the hourly cap."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from app.auth import PUBLIC_ATTRIBUTE, TOKEN_AUTHENTICATED_PREFIXES, safe_next
from app.auth_store import SqliteAuthStore
from app.i18n import load_messages
from app.login_lockout import LOCK_AFTER_FAILURES, failure_wait
from app.storage import database_path
from tests.fake_upstream import FakeUpstream
from tests.helpers import FakeClock, add_account, create_task, sample_path, wait_until

TEAM_PASSWORD = "correct horse battery"
EN = load_messages()["en"]
ZH = load_messages()["zh-CN"]
JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true"}
# Open without a session, on purpose; anything else must be refused. Adding a name here is a
# decision to publish a route: say why next to it.
PUBLIC_ROUTES = {
    "static",  # CSS, JS, icons
    "show_login",
    "log_in",
    "log_out",  # ending a session needs none; without one it only clears the cookie
    "check_health",  # proxies and orchestrators
    "set_language",  # the login page's language switch; sets a cookie, redirects to a same-site path
    # Share links: the unguessable token in the path is the credential (tests/test_sharing.py).
    "show_share",
    "serve_shared_video",
    "serve_shared_poster",
    "serve_shared_frame",
    "show_shared_comparison_cell",  # a shared comparison's cells and videos, under the same token
    "serve_shared_comparison_video",
    # Visitor keys (tests/test_visitor.py): 404 unless CONSOLE_VISITOR_KEYS=true; the key page itself
    # sends to /login first when a login is configured; forgetting needs no session, like log_out.
    "show_key",
    "enter_key",
    "forget_key",
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def log_in(console, password: str = TEAM_PASSWORD, username: str = "", **extra: str):
    response = console.post("/login", data={"password": password, "username": username, **extra})
    assert response.status_code == 303, response.text
    return response


def settle(console, fake_upstream: FakeUpstream, task_id: str) -> None:
    """Wait until the task has its video, so the poller sends nothing more upstream."""
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers=JSON).json()["video"])


# --- every route, unauthenticated -----------------------------------------------------------------


def test_every_route_is_refused_without_a_session_and_nothing_goes_upstream(open_console, fake_upstream, png):
    """Walks app.routes, so a route added later is covered without touching this test."""
    console = open_console(fake_upstream, CONSOLE_PASSWORD=TEAM_PASSWORD)
    log_in(console)
    task_id = create_task(console, png)
    settle(console, fake_upstream, task_id)
    ref = re.search(r"/frames/([0-9a-f]{64}\.png)", console.get(f"/tasks/{task_id}").text).group(1)
    console.cookies.clear()
    seen_upstream = len(fake_upstream.requests)

    values = {"task_id": task_id, "ref": ref, "code": "en", "path": "console.css"}
    unknown = {**values, "task_id": "never-seen-upstream-id"}
    checked = 0
    for context in iter_route_contexts(console.app.routes):
        route = context.original_route
        name = context.name
        if isinstance(route, Mount):
            public = name in PUBLIC_ROUTES
            assert public, f"mount {context.path} is neither guarded nor listed as public"
            continue
        path = context.path or ""
        if path.startswith(TOKEN_AUTHENTICATED_PREFIXES):
            # Token-authenticated API: without a bearer token it must refuse too.
            for method in context.methods or ():
                answer = console.request(method, sample_path(path, values))
                assert answer.status_code in (401, 403, 404, 405), (method, path, answer.status_code)
            continue
        if getattr(context.endpoint, PUBLIC_ATTRIBUTE, False):
            assert name in PUBLIC_ROUTES, f"{name} ({path}) is marked @public but not listed in PUBLIC_ROUTES"
            continue
        for method in sorted(context.methods or ()):
            for sample in (values, unknown):
                url = sample_path(path, sample)
                browser = console.request(method, url)
                if method in ("GET", "HEAD"):
                    assert browser.status_code == 303, (method, url, browser.status_code)
                    assert browser.headers["location"].startswith("/login?next=")
                else:
                    assert browser.status_code in (303, 401), (method, url, browser.status_code)
                htmx = console.request(method, url, headers=HTMX)
                assert htmx.status_code == 401 and htmx.headers["hx-redirect"].startswith("/login"), (method, url)
                api = console.request(method, url, headers=JSON)
                assert api.status_code == 401 and api.json()["error"] == "login required", (method, url)
                assert task_id not in browser.text + htmx.text + api.text
                checked += 1
    assert checked >= 8
    assert len(fake_upstream.requests) == seen_upstream


def test_only_the_listed_routes_are_public(sim_console):
    public = {
        context.name
        for context in iter_route_contexts(sim_console.app.routes)
        if isinstance(context.original_route, Mount) or getattr(context.endpoint, PUBLIC_ATTRIBUTE, False)
    }
    assert public <= PUBLIC_ROUTES


def test_without_a_password_the_console_works_as_before(console, png):
    task_id = create_task(console, png)
    assert console.get(f"/tasks/{task_id}").status_code == 200
    assert console.get("/login").status_code == 303
    assert EN["auth.logout"] not in console.get("/").text


def test_unknown_paths_are_refused_too_rather_than_404(open_console):
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    assert console.get("/no/such/page").status_code == 303
    log_in(console)
    assert console.get("/no/such/page").status_code == 404


# --- logging in and out ---------------------------------------------------------------------------


def test_a_browser_is_sent_to_log_in_and_comes_back_where_it_was_going(open_console, fake_upstream, png):
    console = open_console(fake_upstream, CONSOLE_PASSWORD=f"old-one,{TEAM_PASSWORD}")
    going = console.get("/tasks?id=abc")
    assert going.status_code == 303 and going.headers["location"] == "/login?next=/tasks%3Fid%3Dabc"
    page = console.get(going.headers["location"])
    assert page.status_code == 200 and 'name="password"' in page.text and 'name="username"' not in page.text
    assert 'value="/tasks?id=abc"' in page.text
    assert EN["nav.history"] not in page.text  # nothing to browse before logging in
    back = log_in(console, next="/tasks?id=abc")
    assert back.headers["location"] == "/tasks?id=abc"
    cookie = back.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie and "Path=/" in cookie
    assert console.get("/").status_code == 200
    assert EN["auth.logout"] in console.get("/").text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "evil", "/\x00x"]
)
def test_next_never_leaves_the_console(open_console, target):
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    assert log_in(console, next=target).headers["location"] == "/"
    assert safe_next(target, "") is None


def test_htmx_and_json_callers_get_401_instead_of_a_redirect(open_console):
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    htmx = console.get("/tasks/abc/status", headers={**HTMX, "HX-Current-URL": "http://testserver/tasks/abc"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login?next=/tasks/abc"
    api = console.get("/tasks/abc", headers=JSON)
    assert api.status_code == 401 and api.json() == {"error": "login required", "login": "/login"}


def test_a_wrong_password_is_said_by_the_field_and_sends_nothing(open_console, fake_upstream):
    console = open_console(fake_upstream, CONSOLE_PASSWORD=TEAM_PASSWORD)
    wrong = console.post("/login", data={"password": "nope"})
    assert wrong.status_code == 401 and EN["auth.wrong_password"] in wrong.text
    assert "set-cookie" not in wrong.headers
    assert console.get("/").status_code == 303
    assert fake_upstream.requests == []


def test_logout_ends_the_session_in_the_store(open_console):
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    log_in(console)
    kept = dict(console.cookies)
    out = console.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert "console_session=;" in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    console.cookies.clear()
    console.cookies.update(kept)  # a copied cookie is worthless once logged out
    assert console.get("/").status_code == 303
    htmx = console.post("/logout", headers=HTMX)
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/login"


def test_a_forged_or_tampered_session_cookie_is_refused(open_console):
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    log_in(console)
    value = console.cookies["console_session"]
    token, _, mac = value.partition(".")
    for forged in (token, f"{token}.{mac[:-2]}AA", f"{'A' * len(token)}.{mac}", "x.y"):
        console.cookies.clear()
        console.cookies.set("console_session", forged)
        assert console.get("/").status_code == 303, forged


def test_changing_the_team_password_ends_sessions_opened_with_the_old_one(open_console):
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    log_in(console)
    kept = dict(console.cookies)
    same_key = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    same_key.cookies.update(kept)
    assert same_key.get("/").status_code == 200  # another replica over the same data dir
    rotated = open_console(CONSOLE_PASSWORD="a new password")
    rotated.cookies.update(kept)
    assert rotated.get("/").status_code == 303


def test_the_secret_key_is_kept_private_in_the_data_dir_unless_given(open_console, data_dir):
    open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    key_file = data_dir / "console-secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD, CONSOLE_SECRET="operator-given-secret-value")
    log_in(console)
    other = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)  # the file's key: the cookie's MAC does not match
    other.cookies.update(dict(console.cookies))
    assert other.get("/").status_code == 303


def test_named_accounts_log_in_by_name_and_removal_ends_their_sessions(open_console, data_dir):
    add_account(data_dir, "alice", "alice-password")
    console = open_console(CONSOLE_PASSWORD=TEAM_PASSWORD)
    page = console.get("/login")
    assert 'name="username"' in page.text and EN["auth.username_hint"] in page.text
    wrong = console.post("/login", data={"username": "alice", "password": TEAM_PASSWORD})
    assert wrong.status_code == 401 and EN["auth.wrong_password_or_name"] in wrong.text
    assert 'value="alice"' in wrong.text  # the name is kept
    unknown = console.post("/login", data={"username": "mallory", "password": "alice-password"})
    assert unknown.status_code == 401
    log_in(console, "alice-password", "ALICE")  # names are case-insensitive
    assert ">alice<" in console.get("/").text
    store = SqliteAuthStore(database_path(data_dir))
    store.remove_account("alice")
    store.close()
    assert console.get("/").status_code == 303


def test_accounts_alone_turn_the_login_on(open_console, data_dir, fake_upstream):
    console = open_console(fake_upstream)
    assert console.get("/").status_code == 200
    add_account(data_dir, "bob", "bob-password")  # `user add` on a running console: effective at once
    assert console.get("/").status_code == 303
    page = console.get("/login")
    assert 'name="username"' in page.text and "required" in page.text
    assert console.post("/login", data={"password": "bob-password"}).status_code == 401  # no team password
    log_in(console, "bob-password", "bob")


# --- the lockout ----------------------------------------------------------------------------------


def test_wrong_passwords_are_slowed_then_locked_with_retry_after(open_console):
    clock = FakeClock()
    console = open_console(clock=clock, CONSOLE_PASSWORD=TEAM_PASSWORD)
    assert [console.post("/login", data={"password": "x"}).status_code for _ in range(2)] == [401, 401]
    third = console.post("/login", data={"password": "x"})
    assert third.status_code == 429 and third.headers["retry-after"] == "1"
    assert EN["auth.locked_seconds"].format(seconds=1) in third.text
    # While blocked, even the right password is not checked.
    assert console.post("/login", data={"password": TEAM_PASSWORD}).status_code == 429
    for failures in range(4, LOCK_AFTER_FAILURES + 1):
        clock.advance(failure_wait(failures - 1))
        slowed = console.post("/login", data={"password": "x"})
        assert slowed.status_code == 429 and slowed.headers["retry-after"] == str(int(failure_wait(failures)))
    locked = console.post("/login", data={"password": TEAM_PASSWORD}, headers={"Accept-Language": "zh-CN"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) == 15 * 60
    assert ZH["auth.locked_minutes"].format(minutes=15) in locked.text
    api = console.post("/login", data={"password": TEAM_PASSWORD}, headers=JSON)
    assert api.status_code == 429 and api.json()["retry_after"] == 15 * 60
    clock.advance(15 * 60)
    log_in(console)  # the lock ends; a success forgets the failures
    console.cookies.clear()
    assert console.post("/login", data={"password": "x"}).status_code == 401


def test_the_lockout_is_kept_in_the_store_across_replicas(open_console):
    clock = FakeClock()
    first = open_console(clock=clock, CONSOLE_PASSWORD=TEAM_PASSWORD)
    for _ in range(3):
        first.post("/login", data={"password": "x"})
    second = open_console(clock=clock, CONSOLE_PASSWORD=TEAM_PASSWORD)
    assert second.post("/login", data={"password": TEAM_PASSWORD}).status_code == 429


def test_failure_waits_grow_then_lock():
    waits = [failure_wait(n) for n in range(1, 12)]
    assert waits[:2] == [0, 0] and waits[2:9] == [1, 2, 4, 8, 16, 32, 64] and waits[9:] == [900, 900]


# --- whose history --------------------------------------------------------------------------------


@pytest.fixture
def two_accounts(open_console, fake_upstream, data_dir):
    add_account(data_dir, "alice", "alice-password")
    add_account(data_dir, "bob", "bob-password")
    alice = open_console(fake_upstream)
    bob = open_console(fake_upstream)
    log_in(alice, "alice-password", "alice")
    log_in(bob, "bob-password", "bob")
    return alice, bob


def test_accounts_see_only_their_own_tasks_by_default(two_accounts, fake_upstream, png):
    alice, bob = two_accounts
    fake_upstream.auto_advance = False
    task_id = create_task(alice, png, promptText="alice's private prompt")
    page = alice.get(f"/tasks/{task_id}").text
    ref = re.search(r"/frames/([0-9a-f]{64}\.png)", page).group(1)
    for url in (
        f"/tasks/{task_id}",
        f"/tasks/{task_id}/status",
        f"/tasks/{task_id}/video.mp4",
        f"/tasks/{task_id}/request.json",
        f"/frames/{ref}",
    ):
        assert bob.get(url).status_code == 404, url
        assert bob.get(url, headers=JSON).status_code == 404, url
    assert bob.post(f"/tasks/{task_id}/cancel").status_code == 404
    assert bob.post(f"/tasks/{task_id}/cancel", headers=HTMX).status_code == 404
    assert fake_upstream.calls("DELETE") == []
    assert task_id not in bob.get("/tasks").text and task_id not in bob.get("/").text
    assert "alice&#39;s private prompt" not in bob.get(f"/?from={task_id}").text
    assert "alice&#39;s private prompt" in alice.get(f"/?from={task_id}").text
    assert task_id in alice.get("/tasks").text and alice.get(f"/frames/{ref}").status_code == 200
    assert alice.post(f"/tasks/{task_id}/cancel").status_code == 303
    assert len(fake_upstream.calls("DELETE")) == 1


def test_an_upstream_task_opened_by_id_becomes_the_openers(two_accounts, fake_upstream):
    alice, bob = two_accounts
    # Settled, so no poller asks about it again while the test counts.
    fake_upstream.tasks["made-elsewhere"] = {"id": "made-elsewhere", "status": "FAILED", "failure": "x"}
    assert bob.get("/tasks/made-elsewhere").status_code == 200
    gets = len(fake_upstream.calls("GET", "made-elsewhere"))
    assert alice.get("/tasks/made-elsewhere").status_code == 404
    assert len(fake_upstream.calls("GET", "made-elsewhere")) == gets  # known: not fetched again
    assert "made-elsewhere" in bob.get("/tasks").text


def test_shared_history_shows_every_task_to_every_account(open_console, fake_upstream, data_dir, png):
    add_account(data_dir, "alice", "alice-password")
    add_account(data_dir, "bob", "bob-password")
    alice = open_console(fake_upstream, CONSOLE_HISTORY="shared")
    bob = open_console(fake_upstream, CONSOLE_HISTORY="shared")
    log_in(alice, "alice-password", "alice")
    log_in(bob, "bob-password", "bob")
    task_id = create_task(alice, png)
    assert bob.get(f"/tasks/{task_id}").status_code == 200 and task_id in bob.get("/tasks").text


def test_private_history_without_login_is_per_browser(open_console, fake_upstream, png):
    first = open_console(fake_upstream, CONSOLE_HISTORY="private")
    second = open_console(fake_upstream, CONSOLE_HISTORY="private")
    landing = first.get("/")
    assert "console_browser=" in landing.headers["set-cookie"] and "HttpOnly" in landing.headers["set-cookie"]
    second.get("/")
    task_id = create_task(first, png)
    assert first.get(f"/tasks/{task_id}").status_code == 200
    assert second.get(f"/tasks/{task_id}").status_code == 404
    assert task_id not in second.get("/tasks").text


def test_tasks_in_an_old_data_dir_stay_visible_to_everyone(open_console, fake_upstream, data_dir):
    shutil.copytree(Path(__file__).parent / "fixtures" / "data-v0", data_dir)
    add_account(data_dir, "alice", "alice-password")
    add_account(data_dir, "bob", "bob-password")
    for name in ("alice", "bob"):
        console = open_console(fake_upstream)
        log_in(console, f"{name}-password", name)
        history = console.get("/tasks").text
        assert "fixture-3-succeeded" in history and "fixture-6-external" in history
        assert console.get("/tasks/fixture-3-succeeded").status_code == 200
        assert console.get("/tasks/fixture-3-succeeded/video.mp4").status_code == 200


# --- the hourly cap -------------------------------------------------------------------------------


def test_the_hourly_cap_is_a_message_by_the_form_and_nothing_upstream(open_console, fake_upstream, png):
    clock = FakeClock()
    console = open_console(fake_upstream, clock=clock, CONSOLE_PASSWORD=TEAM_PASSWORD, CONSOLE_TASKS_PER_HOUR=2)
    log_in(console)
    create_task(console, png)
    clock.advance(600)
    create_task(console, png)
    over = console.post(
        "/tasks",
        data={
            "model": "gen4_turbo",
            "ratio": "1280:720",
            "duration": "5",
            "promptText": "kept prompt",
            "first_frame_url": "https://cdn.example.com/a.png",
        },
    )
    assert over.status_code == 429 and over.headers["retry-after"] == str(3000)
    assert EN["errors.tasks_per_hour"].format(limit=2, minutes=50) in over.text
    assert "kept prompt" in over.text
    api = console.post(
        "/tasks",
        headers=JSON,
        data={
            "model": "gen4_turbo",
            "ratio": "1280:720",
            "duration": "5",
            "first_frame_url": "https://cdn.example.com/a.png",
        },
    )
    assert api.status_code == 429 and api.json()["retry_after"] == 3000
    assert len(fake_upstream.calls("POST")) == 2
    clock.advance(3000)
    create_task(console, png)


def test_a_refused_create_does_not_count_against_the_cap(open_console, fake_upstream, png):
    console = open_console(fake_upstream, CONSOLE_TASKS_PER_HOUR=1)
    fake_upstream.queue("create", status=400, body='{"error": "not enough credits"}')
    assert (
        console.post(
            "/tasks",
            data={
                "model": "gen4_turbo",
                "ratio": "1280:720",
                "duration": "5",
                "first_frame_url": "https://cdn.example.com/a.png",
            },
        ).status_code
        != 303
    )
    create_task(console, png)


def test_a_status_poll_answered_from_memory_still_hides_another_accounts_task(open_console, fake_upstream, data_dir,
                                                                              png):
    add_account(data_dir, "alice", "alice-password")
    add_account(data_dir, "bob", "bob-password")
    console = open_console(fake_upstream)  # one console, so both polls meet the same in-memory versions
    fake_upstream.auto_advance = False
    log_in(console, "alice-password", "alice")
    alice = dict(console.cookies)
    task_id = create_task(console, png)
    shown = [console.get(f"/tasks/{task_id}").text]

    def settled_on_a_version() -> bool:
        # The first upstream poll may change what the box shows: follow the box as htmx would.
        version = re.search(r'/status\?v=([0-9a-f]+)"', shown[-1]).group(1)
        answer = console.get(f"/tasks/{task_id}/status?v={version}", headers=HTMX)
        shown.append(answer.text or shown[-1])
        return answer.status_code == 204

    # The poller may write a new version at any moment; a round counts when Alice's 204 afterwards shows
    # the version was current throughout, so Bob's 404 came from the in-memory path's owner check.
    for _ in range(5):
        console.cookies.clear()
        console.cookies.update(alice)
        wait_until(settled_on_a_version)
        version = re.search(r'/status\?v=([0-9a-f]+)"', shown[-1]).group(1)
        poll = f"/tasks/{task_id}/status?v={version}"

        console.cookies.clear()
        log_in(console, "bob-password", "bob")
        assert console.get(poll, headers=HTMX).status_code == 404
        console.cookies.clear()
        assert console.get(poll, headers=HTMX).status_code in (303, 401)  # no session: the login, not a 204
        console.cookies.update(alice)
        if console.get(poll, headers=HTMX).status_code == 204:
            break
    else:
        pytest.fail("the task's status version never stayed put for one round")


def test_a_login_hashes_a_password_kept_with_other_parameters_again_with_the_consoles(open_console, data_dir):
    from argon2 import PasswordHasher

    from app.passwords import AccountPasswords

    store = SqliteAuthStore(database_path(data_dir))
    older = AccountPasswords(PasswordHasher(time_cost=2, memory_cost=64, parallelism=1)).hash("alice-password")
    assert store.add_account("alice", older)
    console = open_console()
    assert console.post("/login", data={"username": "alice", "password": "wrong-password"}).status_code == 401
    assert store.password_hash("alice") == ("alice", older)  # a failed login changes nothing
    log_in(console, "alice-password", "alice")
    renewed = store.password_hash("alice")
    assert renewed is not None and renewed[1] != older and "t=1," in renewed[1]
    store.close()
    console.post("/logout")
    log_in(console, "alice-password", "alice")  # the new hash opens the account
