"""Cross-site requests refused (app/origin.py): the Sec-Fetch-Site / Origin matrix over HTTP, with HTMX,
without JavaScript, under CONSOLE_ROOT_PATH and behind a TLS-terminating proxy; nothing reaches the upstream."""

from __future__ import annotations

import warnings

import pytest
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from app.auth import TOKEN_AUTHENTICATED_PREFIXES
from app.i18n import load_messages
from app.main import create_app
from app.origin import cross_origin_reason, normalise_origin
from tests.helpers import VALID_FORM, create_task, sample_path, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

EN = load_messages()["en"]
FORM = {**VALID_FORM, "first_frame_url": "https://cdn.example.com/frame.png"}


@pytest.mark.parametrize(
    "headers, refused",
    [
        ({}, False),  # curl, scripts: no browser, no victim's cookies
        ({"Sec-Fetch-Site": "same-origin"}, False),
        ({"Sec-Fetch-Site": "none"}, False),  # typed into the address bar, bookmarks
        ({"Sec-Fetch-Site": "same-site"}, True),  # another port on 127.0.0.1 is the same *site*
        ({"Sec-Fetch-Site": "cross-site"}, True),
        ({"Origin": "http://testserver"}, False),
        ({"Origin": "http://testserver:80"}, False),
        ({"Origin": "http://TestServer"}, False),
        ({"Origin": "http://testserver:8080"}, True),
        ({"Origin": "https://testserver"}, True),
        ({"Origin": "http://evil.example"}, True),
        ({"Origin": "null"}, True),  # sandboxed frames, file: pages
        ({"Sec-Fetch-Site": "same-origin", "Origin": "http://evil.example"}, True),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://testserver"}, True),
    ],
)
def test_the_origin_matrix_on_task_creation(console, fake_upstream, headers, refused):
    answer = console.post("/tasks", data=FORM, headers=headers)
    if refused:
        assert answer.status_code == 403 and EN["auth.cross_origin"] in answer.text
        assert fake_upstream.requests == []
    else:
        assert answer.status_code == 303
        assert len(fake_upstream.calls("POST")) == 1


def test_safe_methods_are_never_refused():
    for method in ("GET", "HEAD", "OPTIONS"):
        assert cross_origin_reason({"method": method, "headers": [(b"sec-fetch-site", b"cross-site")]}) is None


def test_cancel_from_another_site_sends_nothing_upstream(console, fake_upstream, png):
    task_id = create_task(console, png)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://127.0.0.1:9999", "HX-Request": "true"}):
        assert console.post(f"/tasks/{task_id}/cancel", headers=headers).status_code == 403
    assert fake_upstream.calls("DELETE") == []
    refused = console.post(f"/tasks/{task_id}/cancel", headers={"Origin": "null", "Accept": "application/json"})
    assert refused.status_code == 403 and refused.json() == {"error": EN["auth.cross_origin"]}
    assert console.post(f"/tasks/{task_id}/cancel", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 303
    assert len(fake_upstream.calls("DELETE")) == 1


def test_login_and_logout_are_protected_too(open_console):
    console = open_console(CONSOLE_PASSWORD="team-password")
    cross = {"Origin": "http://evil.example"}
    assert console.post("/login", data={"password": "team-password"}, headers=cross).status_code == 403
    assert "set-cookie" not in console.post("/login", data={"password": "team-password"}, headers=cross).headers
    assert console.post("/login", data={"password": "team-password"}).status_code == 303
    assert console.post("/logout", headers=cross).status_code == 403
    assert console.get("/").status_code == 200  # still logged in


def test_under_a_root_path(open_console, fake_upstream):
    console = open_console(fake_upstream, CONSOLE_ROOT_PATH="/runway")
    ok = console.post(
        "/runway/tasks", data=FORM, headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    )
    assert ok.status_code == 303 and ok.headers["location"].startswith("/runway/tasks/")
    assert console.post("/runway/tasks", data=FORM, headers={"Origin": "http://evil.example"}).status_code == 403
    assert len(fake_upstream.calls("POST")) == 1


@pytest.mark.parametrize("peer, allowed", [("127.0.0.1", True), ("203.0.113.7", False)])
def test_behind_a_tls_terminating_proxy(make_settings, fake_upstream, peer, allowed, caplog):
    """The browser's Origin is https://console.example.com; only a trusted proxy can say so."""
    from tests.helpers import SECRET

    settings = make_settings(RUNWAYML_BASE_URL=fake_upstream.api_url, RUNWAYML_API_SECRET=SECRET)
    with TestClient(create_app(settings), client=(peer, 5000), follow_redirects=False) as console:
        answer = console.post(
            "/tasks",
            data=FORM,
            headers={
                "Origin": "https://console.example.com",
                "Sec-Fetch-Site": "same-origin",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "console.example.com",
                "X-Forwarded-For": "198.51.100.4",
            },
        )
    assert (answer.status_code == 303) is allowed
    assert len(fake_upstream.calls("POST")) == (1 if allowed else 0)
    # An untrusted proxy is told apart from an attack in the log, naming the setting to change.
    assert ("CONSOLE_TRUSTED_PROXIES" in caplog.text) is not allowed


def test_origins_are_normalised():
    assert normalise_origin("https://Example.com:443") == "https://example.com"
    assert normalise_origin("http://example.com:8080/") == "http://example.com:8080"
    assert normalise_origin("null") is None and normalise_origin("file://") is None


def test_every_route_that_changes_something_refuses_another_site(open_console, fake_upstream, png):
    """Walks app.routes while logged in, so a route added later is covered without touching this test."""
    console = open_console(fake_upstream, CONSOLE_PASSWORD="correct horse battery")
    assert console.post("/login", data={"password": "correct horse battery"}).status_code == 303
    task_id = create_task(console, png)
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers={"Accept": "application/json"}).json()["video"])
    before = len(fake_upstream.requests)
    values = {"task_id": task_id, "code": "en"}
    checked = []
    for context in iter_route_contexts(console.app.routes):
        path = context.path or ""
        if isinstance(context.original_route, Mount) or path.startswith(TOKEN_AUTHENTICATED_PREFIXES):
            continue  # static files; the API, which takes a bearer token and no cookie
        for method in sorted(set(context.methods or ()) - {"GET", "HEAD", "OPTIONS"}):
            answer = console.request(method, sample_path(path, values), headers={"Origin": "http://evil.example"})
            assert answer.status_code == 403, (method, path, answer.status_code)
            checked.append(context.name)
    assert {"log_in", "log_out", "create_task", "cancel_task", "rerun_with_new_seed"} <= set(checked)
    assert {"share_comparison", "revoke_comparison_share"} <= set(checked)
    assert len(fake_upstream.requests) == before  # nothing was sent upstream
    assert console.get(f"/tasks/{task_id}").status_code == 200  # still there, still logged in
