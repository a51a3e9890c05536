"""Following tasks over HTTP (app/routers/tasks.py): the task page, its status fragment, request.json,
the video with Range requests, cancelling, the JSON API, a real run on the simulator, and the key
never leaving the server whatever the upstream echoes."""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import sqlite3

import pytest

from tests.fake_upstream import FAKE_MP4, FakeUpstream, started
from tests.helpers import SECRET, create_task, image_bytes, wait_until
from tests.helpers import VALID_FORM as VALID

JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true"}


def echoing(app):
    """Wrap an ASGI app so `{auth}` in any answer becomes the Authorization header it was sent with,
    like relays that quote the key back in their error messages."""

    async def wrapped(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"(no key)")
        start: dict = {}

        async def echo(message):
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body = message.get("body", b"").replace(b"{auth}", auth)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({**message, "body": body})

        await app(scope, receive, echo)

    return wrapped


@pytest.fixture
def fake_upstream(serve) -> FakeUpstream:
    """The fake upstream, echoing the key wherever an answer says `{auth}`; tasks stay put unless told."""
    fake = started(serve, wrap=echoing)
    fake.auto_advance = False
    return fake


def task_json(console, task_id: str) -> dict:
    return console.get(f"/tasks/{task_id}", headers=JSON).json()


def succeed(fake_upstream: FakeUpstream, task_id: str) -> None:
    fake_upstream.tasks[task_id].pop("progress", None)
    fake_upstream.tasks[task_id].update(status="SUCCEEDED", output=[fake_upstream.output_url(task_id)])


def wait_for_video(console, task_id: str) -> None:
    wait_until(lambda: task_json(console, task_id)["video"] is not None)


# --- the task page and its status fragment -----------------------------------------------------

def test_task_page_shows_parameters_frame_and_live_status(console, png):
    task_id = create_task(console, png, seed="77")
    page = console.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert f'<code class="task-id">{task_id}</code>' in page.text
    assert "<code>gen4_turbo</code>" in page.text and "<dd>1280:720</dd>" in page.text
    assert "<code data-seed>77</code>" in page.text and "waves roll in" in page.text
    assert re.search(r'<img src="/frames/[0-9a-f]{64}\.png" alt="First frame">', page.text)
    assert 'data-status="PENDING"' in page.text
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in page.text
    assert f'href="/?from={task_id}"' in page.text  # edit and run again


def test_status_fragment_polls_while_active_and_answers_286_once_settled(console, fake_upstream, png):
    task_id = create_task(console, png)
    url = f"/tasks/{task_id}/status"
    pending = console.get(url)
    assert pending.status_code == 200
    assert pending.text.lstrip().startswith('<div id="task-status"') and "<html" not in pending.text
    assert re.search(f'hx-get="{url}\\?v=[0-9a-f]{{16}}"', pending.text) and 'hx-trigger="every 2s"' in pending.text
    assert 'hx-swap="outerHTML"' in pending.text and 'data-settled="false"' in pending.text
    assert f'hx-post="/tasks/{task_id}/cancel"' in pending.text

    fake_upstream.tasks[task_id].update(status="RUNNING", progress=0.25)
    wait_until(lambda: 'data-status="RUNNING"' in console.get(url).text)
    running = console.get(url)
    assert running.status_code == 200 and 'hx-trigger="every 2s"' in running.text
    assert '<progress max="100" value="25"' in running.text

    succeed(fake_upstream, task_id)
    wait_until(lambda: console.get(url).status_code == 286)
    done = console.get(url)
    assert 'data-status="SUCCEEDED"' in done.text and 'data-settled="true"' in done.text
    assert "hx-trigger" not in done.text and "hx-get" not in done.text and "cancel" not in done.text
    assert f'<video class="result-video" controls autoplay muted loop playsinline preload="auto" ' \
           f'src="/tasks/{task_id}/video.mp4">' in done.text
    assert f'href="/tasks/{task_id}/video.mp4?download=1"' in done.text


def shown_version(fragment: str) -> str:
    """The version a status box carries in its hx-get URL, as the page sends it back."""
    match = re.search(r'hx-get="[^"]*/status\?v=([^"&]+)"', fragment)
    assert match, "the status box carries no version"
    return match.group(1)


def test_status_poll_of_an_unchanged_task_is_204_until_it_changes_then_286_once_settled(
    console, fake_upstream, png, tmp_path
):
    task_id = create_task(console, png)
    url = f"/tasks/{task_id}/status"
    fake_upstream.tasks[task_id].update(status="RUNNING", progress=0.25)
    wait_until(lambda: 'data-status="RUNNING"' in console.get(url).text)
    first = console.get(url, headers=HTMX)
    version = shown_version(first.text)
    assert shown_version(console.get(f"/tasks/{task_id}").text) == version  # the page starts from it

    # The poller rewrites the task on every poll; nothing a page shows changes, so neither does the version.
    polls = len(fake_upstream.calls("GET", f"/v1/tasks/{task_id}"))
    wait_until(lambda: len(fake_upstream.calls("GET", f"/v1/tasks/{task_id}")) >= polls + 2)
    unchanged = console.get(url, params={"v": version}, headers=HTMX)
    assert unchanged.status_code == 204 and unchanged.content == b""

    # Answered from memory: with the row gone behind the store's back, the poll still says "unchanged".
    with sqlite3.connect(tmp_path / "data" / "console.db") as db:
        row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        columns = [c[0] for c in db.execute("SELECT * FROM tasks LIMIT 0").description]
        db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
    assert console.get(url, params={"v": version}).status_code == 204
    with sqlite3.connect(tmp_path / "data" / "console.db") as db:
        db.execute(f"INSERT INTO tasks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", row)

    # A stale or foreign version gets the whole box, with the current version to send next time.
    for stale in ("", "0" * 16, version + "x"):
        full = console.get(url, params={"v": stale}, headers=HTMX)
        assert full.status_code == 200 and shown_version(full.text) == version

    fake_upstream.tasks[task_id].update(progress=0.5)
    wait_until(lambda: console.get(url, params={"v": version}).status_code == 200)
    changed = console.get(url, params={"v": version}, headers=HTMX)
    assert '<progress max="100" value="50"' in changed.text
    newer = shown_version(changed.text)
    assert newer != version and console.get(url, params={"v": newer}).status_code == 204

    succeed(fake_upstream, task_id)
    wait_until(lambda: console.get(url, params={"v": newer}).status_code == 286)
    done = console.get(url, params={"v": newer})
    assert 'data-settled="true"' in done.text and "hx-get" not in done.text


def test_elapsed_time_is_rendered_for_the_browser_to_count_on_while_the_task_runs(console, fake_upstream, png):
    task_id = create_task(console, png)
    running = console.get(f"/tasks/{task_id}/status").text
    pattern = r'<span class="elapsed" data-elapsed="(\d+)" data-elapsed-label="([^"]+)" data-ticking>'
    elapsed = re.search(pattern, running)
    assert elapsed and elapsed.group(2) == "{n} s elapsed"
    zh = console.get(f"/tasks/{task_id}/status", headers={"Accept-Language": "zh-CN"}).text
    assert 'data-elapsed-label="已用时 {n} 秒"' in zh
    fake_upstream.tasks[task_id].update(status="FAILED", failure="no", failureCode="INTERNAL")
    wait_until(lambda: console.get(f"/tasks/{task_id}/status").status_code == 286)
    assert "data-ticking" not in console.get(f"/tasks/{task_id}/status").text


def test_a_failed_task_is_explained_and_settled(console, fake_upstream, png):
    task_id = create_task(console, png)
    fake_upstream.tasks[task_id].update(status="FAILED", failure="Content moderated", failureCode="SAFETY.INPUT.TEXT")
    wait_until(lambda: console.get(f"/tasks/{task_id}/status").status_code == 286)
    page = console.get(f"/tasks/{task_id}").text
    assert "<q>Content moderated</q>" in page and "<code>SAFETY.INPUT.TEXT</code>" in page
    assert '<noscript><meta http-equiv="refresh"' not in page


def test_status_of_an_unknown_or_malformed_task_is_404(console):
    assert console.get("/tasks/never-created/status").status_code == 404
    assert console.get("/tasks/..%2F..%2Fconsole.db/status").status_code == 404


# --- request.json ------------------------------------------------------------------------------

def test_request_json_is_exactly_what_was_sent_upstream(console, fake_upstream, png):
    last = image_bytes(image_format="JPEG")
    response = console.post("/tasks", data={**VALID, "seed": "5", "watermark": "true"},
                            files={"first_frame": ("a.png", png, "image/png"),
                                   "last_frame": ("b.jpg", last, "image/jpeg")})
    task_id = response.headers["location"].removeprefix("/tasks/")
    download = console.get(f"/tasks/{task_id}/request.json")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/json"
    assert download.headers["content-disposition"] == f'attachment; filename="request-{task_id}.json"'
    (sent,) = fake_upstream.calls("POST", "image_to_video")
    assert download.json() == sent.json()
    images = download.json()["promptImage"]
    assert images[0] == {"uri": "data:image/png;base64," + base64.b64encode(png).decode(), "position": "first"}
    assert images[1]["uri"].startswith("data:image/jpeg;base64,") and images[1]["position"] == "last"
    assert SECRET not in download.text


def test_task_page_shows_the_request_with_placeholders_for_frames_and_key(console, fake_upstream, png):
    task_id = create_task(console, png)
    page = console.get(f"/tasks/{task_id}").text
    assert f"<code>POST {fake_upstream.base_url}/runwayml/v1/image_to_video</code>" in page
    assert "Authorization: Bearer $RUNWAYML_API_SECRET" in page and "X-Runway-Version: 2024-11-06" in page
    assert re.search(r'"uri": "data:image/png;base64,… \(\d+\.\d\d MB\)"', html.unescape(page))
    assert base64.b64encode(png).decode()[:200] not in page  # the frame itself is only in request.json
    assert "--data @request.json" in page and f'href="/tasks/{task_id}/request.json" download' in page
    assert SECRET not in page


def test_request_json_passes_an_image_url_through(console, fake_upstream):
    response = console.post("/tasks", data={**VALID, "first_frame_url": "https://cdn.example.com/f.png"})
    task_id = response.headers["location"].removeprefix("/tasks/")
    body = console.get(f"/tasks/{task_id}/request.json").json()
    assert body["promptImage"] == [{"uri": "https://cdn.example.com/f.png", "position": "first"}]


def test_request_json_of_a_task_whose_frame_was_removed_is_a_clear_404(console, png, make_settings):
    task_id = create_task(console, png)
    for frame in (make_settings().data_dir / "frames").iterdir():
        frame.unlink()
    gone = console.get(f"/tasks/{task_id}/request.json")
    assert gone.status_code == 404 and "Error 404" in gone.text
    assert console.get(f"/tasks/{task_id}/request.json", headers=JSON).json() == {
        "error": "a frame of this request is no longer stored"}
    assert console.get(f"/tasks/{task_id}").status_code == 200


def test_request_json_of_an_unknown_task_is_404(console):
    assert console.get("/tasks/never-created/request.json").status_code == 404


# --- the video ---------------------------------------------------------------------------------

@pytest.fixture
def finished(console, fake_upstream, png) -> str:
    """A task whose video (from the fake upstream's CDN) has been downloaded by the console."""
    task_id = create_task(console, png)
    succeed(fake_upstream, task_id)
    wait_for_video(console, task_id)
    return task_id


def test_video_is_served_whole_inline(console, finished):
    response = console.get(f"/tasks/{finished}/video.mp4")
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-disposition"].startswith("inline;")
    assert response.content == FAKE_MP4


def test_video_download_is_an_attachment_named_after_the_task(console, finished):
    response = console.get(f"/tasks/{finished}/video.mp4", params={"download": "1"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="runway-{finished}.mp4"'
    assert response.content == FAKE_MP4


def test_no_video_yet_is_404(console, png):
    task_id = create_task(console, png)
    assert console.get(f"/tasks/{task_id}/video.mp4").status_code == 404
    assert console.get("/tasks/never-created/video.mp4").status_code == 404


ACCEL = {"CONSOLE_ACCEL_REDIRECT": "/_protected_videos/"}


def test_with_accel_redirect_the_console_names_the_file_for_nginx_and_sends_no_bytes(
    open_console, fake_upstream, console, finished, tmp_path
):
    behind_nginx = open_console(fake_upstream, CONSOLE_DATA_DIR=tmp_path / "data", **ACCEL)
    for query, disposition in (({}, "inline"), ({"download": "1"}, "attachment")):
        response = behind_nginx.get(f"/tasks/{finished}/video.mp4", params=query, headers={"Range": "bytes=0-9"})
        assert response.status_code == 200 and response.content == b""
        assert response.headers["x-accel-redirect"] == f"/_protected_videos/{finished}.mp4"
        assert response.headers["content-type"] == "video/mp4"
        assert response.headers["content-disposition"] == f'{disposition}; filename="runway-{finished}.mp4"'


def test_with_accel_redirect_a_task_without_a_video_is_still_refused(open_console, fake_upstream, png):
    behind_nginx = open_console(fake_upstream, **ACCEL)
    task_id = create_task(behind_nginx, png)
    for path in (f"/tasks/{task_id}/video.mp4", "/tasks/never-created/video.mp4", "/tasks/..%2Fconsole.db/video.mp4"):
        response = behind_nginx.get(path)
        assert response.status_code == 404 and "x-accel-redirect" not in response.headers


# --- cancelling --------------------------------------------------------------------------------

def test_cancel_without_javascript_cancels_upstream_and_goes_back_to_the_task(console, fake_upstream, png):
    task_id = create_task(console, png)
    response = console.post(f"/tasks/{task_id}/cancel")
    assert response.status_code == 303 and response.headers["location"] == f"/tasks/{task_id}"
    assert [r.path for r in fake_upstream.calls("DELETE")] == [f"/runwayml/v1/tasks/{task_id}"]
    assert fake_upstream.calls("DELETE")[0].headers["authorization"] == f"Bearer {SECRET}"
    assert task_json(console, task_id)["status"] == "CANCELLED"
    assert console.get(f"/tasks/{task_id}/status").status_code == 286


def test_cancel_with_htmx_swaps_in_a_settled_fragment(console, fake_upstream, png):
    task_id = create_task(console, png)
    response = console.post(f"/tasks/{task_id}/cancel", headers=HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="task-status"') and "<html" not in response.text
    assert 'data-status="CANCELLED"' in response.text and "The task was cancelled." in response.text
    assert "hx-trigger" not in response.text and "cancel-form" not in response.text


def test_cancelling_a_settled_task_sends_nothing_upstream(console, fake_upstream, finished):
    response = console.post(f"/tasks/{finished}/cancel")
    assert response.status_code == 303
    assert fake_upstream.calls("DELETE") == []
    assert task_json(console, finished)["status"] == "SUCCEEDED"


def test_a_failed_cancel_keeps_the_task_running_and_says_why(console, fake_upstream, png):
    task_id = create_task(console, png)
    for _ in range(6):  # three attempts per cancel, two cancels
        fake_upstream.queue(
            "delete", status=502, body="<html><title>502 Bad Gateway</title></html>", content_type="text/html"
        )
    fragment = console.post(f"/tasks/{task_id}/cancel", headers=HTMX)
    assert fragment.status_code == 502
    assert "The upstream is overloaded or failing (HTTP 502)" in fragment.text
    assert 'data-status="PENDING"' in fragment.text and "cancel-form" in fragment.text
    page = console.post(f"/tasks/{task_id}/cancel")
    assert page.status_code == 502 and "Error 502" in page.text and "502 Bad Gateway" in page.text
    assert task_json(console, task_id)["status"] == "PENDING"
    assert len(fake_upstream.calls("DELETE")) == 6


def test_cancel_of_an_unknown_task_is_404_and_get_is_not_allowed(console, fake_upstream):
    assert console.post("/tasks/never-created/cancel").status_code == 404
    assert console.get("/tasks/never-created/cancel").status_code == 405
    assert fake_upstream.calls("DELETE") == []


# --- JSON API and tasks created elsewhere ------------------------------------------------------

def test_json_clients_create_and_follow_a_task(console, fake_upstream, png):
    created = console.post("/tasks", data={**VALID, "seed": "12"}, headers=JSON,
                           files={"first_frame": ("frame.png", png, "image/png")})
    assert created.status_code == 201 and created.headers["content-type"] == "application/json"
    task_id = created.json()["id"]
    assert created.json() == {"id": task_id, "url": f"/tasks/{task_id}", "seed": 12}
    assert task_id in fake_upstream.tasks
    shown = console.get(created.json()["url"], headers=JSON)
    assert shown.status_code == 200 and shown.headers["content-type"] == "application/json"
    assert shown.json() == {
        "id": task_id, "status": "PENDING", "progress": None, "failure": None, "failureCode": None,
        "createdAt": shown.json()["createdAt"], "model": "gen4_turbo", "ratio": "1280:720", "duration": 5,
        "seed": 12, "promptText": "waves roll in", "video": None, "gone": False,
    }
    succeed(fake_upstream, task_id)
    wait_for_video(console, task_id)
    assert task_json(console, task_id)["video"] == f"/tasks/{task_id}/video.mp4"
    assert task_json(console, task_id)["progress"] == 1.0


def test_json_clients_get_a_json_404_for_an_unknown_task(console):
    response = console.get("/tasks/never-created", headers=JSON)
    assert response.status_code == 404 and response.json() == {"error": "unknown task"}


def test_a_task_created_elsewhere_opens_by_id_and_its_video_is_fetched(console, fake_upstream):
    fake_upstream.tasks["made-with-curl-1"] = {"id": "made-with-curl-1", "status": "SUCCEEDED",
                                      "createdAt": "2026-11-20T08:00:00.000Z",
                                      "output": [fake_upstream.output_url("made-with-curl-1")]}
    opened = console.get("/tasks", params={"id": "made-with-curl-1"}, follow_redirects=True)
    assert opened.status_code == 200
    assert "This task was created elsewhere" in opened.text and 'data-status="SUCCEEDED"' in opened.text
    assert "Edit and run again" not in opened.text and "The exact request sent upstream" not in opened.text
    wait_for_video(console, "made-with-curl-1")
    assert console.get("/tasks/made-with-curl-1/video.mp4").content == FAKE_MP4
    assert "made-with-curl-1" in console.get("/tasks").text


def test_an_upstream_that_is_down_gives_a_502_page_when_opening_by_id(console, fake_upstream):
    for _ in range(3):
        fake_upstream.queue("get", status=503, body='{"error": "maintenance"}')
    response = console.get("/tasks/made-elsewhere-2")
    assert response.status_code == 502 and "Error 502" in response.text and "maintenance" in response.text
    assert "Traceback" not in response.text


# --- a real run on the simulator ---------------------------------------------------------------

def test_a_png_becomes_a_playable_video_on_the_simulator(sim_console, png):
    response = sim_console.post("/tasks", data={**VALID, "promptText": "a slow zoom"},
                           files={"first_frame": ("frame.png", png, "image/png")})
    assert response.status_code == 303
    task_url = response.headers["location"]
    wait_until(lambda: sim_console.get(task_url, headers=JSON).json()["video"] is not None, timeout=30)
    task = sim_console.get(task_url, headers=JSON).json()
    assert task["status"] == "SUCCEEDED" and task["progress"] == 1.0
    video = sim_console.get(task["video"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp" and len(video.content) > 1000
    head = sim_console.get(task["video"], headers={"Range": "bytes=0-7"})
    assert head.status_code == 206 and head.content == video.content[:8]
    assert sim_console.get(f"{task_url}/status").status_code == 286
    assert f'src="{task["video"]}"' in sim_console.get(task_url).text


def test_a_moderated_prompt_fails_on_the_simulator_with_its_explanation(sim_console, png):
    response = sim_console.post("/tasks", data={**VALID, "promptText": "something [sim:moderation]"},
                           files={"first_frame": ("frame.png", png, "image/png")})
    task_url = response.headers["location"]
    wait_until(lambda: sim_console.get(f"{task_url}/status").status_code == 286)
    task = sim_console.get(task_url, headers=JSON).json()
    assert task["status"] == "FAILED" and task["failureCode"] == "INPUT_PREPROCESSING.SAFETY.TEXT"
    assert "<code>INPUT_PREPROCESSING.SAFETY.TEXT</code>" in sim_console.get(task_url).text


# --- the key never leaves the server -----------------------------------------------------------

def files_under(folder) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_the_key_never_appears_in_pages_json_database_or_logs(console, fake_upstream, png, make_settings, caplog):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def keep(response):
        seen.append(f"{response.request.method} {response.request.url} {response.status_code}\n"
                    f"{response.headers}\n{response.text}")
        return response

    # a task whose first polls meet gateway pages and errors quoting the key, then succeeds
    fake_upstream.queue(
        "get", status=502, body="<html><title>Bad gateway for {auth}</title></html>", content_type="text/html"
    )
    fake_upstream.queue("get", status=503, body='{"error": "overloaded, key {auth}"}')
    fake_upstream.queue("cdn", status=403, body="<Error>denied {auth}</Error>", content_type="text/xml")
    task_id = create_task(console, png, promptText="secret test")
    fake_upstream.auto_advance = True
    wait_for_video(console, task_id)
    fake_upstream.auto_advance = False

    # refusals of a create, as a page and as JSON
    fake_upstream.queue("create", status=401, body='{"error": {"message": "invalid key {auth}"}}')
    refused = keep(console.post("/tasks", data=VALID, files={"first_frame": ("a.png", png, "image/png")}))
    assert refused.status_code == 502 and "invalid key Bearer ***" in refused.text  # the echo happened
    fake_upstream.queue("create", status=400, body='{"error": "Validation failed: {auth}", '
               '"issues": [{"path": ["ratio"], "message": "bad ratio for {auth}"}]}')
    keep(console.post("/tasks", data=VALID, headers=JSON, files={"first_frame": ("a.png", png, "image/png")}))

    # a cancel the upstream refuses, with and without htmx
    other = create_task(console, png)
    for _ in range(6):
        fake_upstream.queue("delete", status=500, body='{"error": "cannot delete with {auth}"}')
    keep(console.post(f"/tasks/{other}/cancel", headers=HTMX))
    keep(console.post(f"/tasks/{other}/cancel"))

    # opening an unknown id while the upstream fails, as a page and as JSON
    for _ in range(6):
        fake_upstream.queue(
            "get", status=500, body="<html><title>Error {auth}</title></html>", content_type="text/html"
        )
    keep(console.get("/tasks/elsewhere-3"))
    keep(console.get("/tasks/elsewhere-4", headers=JSON))

    for url in ("/", "/tasks", "/healthz", f"/tasks/{task_id}", f"/tasks/{task_id}/status",
                f"/tasks/{task_id}/request.json", f"/tasks/{other}", f"/?from={task_id}", "/nowhere"):
        keep(console.get(url))
        keep(console.get(url, headers=JSON))

    assert len(fake_upstream.calls("POST")) == 4
    assert all("authorization" not in r.headers for r in fake_upstream.calls("GET", "/cdn/"))  # the CDN never gets it
    everything = "\n".join(seen)
    assert "***" in everything  # echoed text reached the pages, scrubbed
    assert SECRET not in everything
    for path, data in files_under(make_settings().data_dir).items():
        assert SECRET.encode() not in data, path
    assert "***" in caplog.text  # the echoed errors were logged, scrubbed
    assert SECRET not in caplog.text


def test_a_failure_message_that_quotes_the_key_is_scrubbed(console, fake_upstream, png, make_settings):
    task_id = create_task(console, png)
    fake_upstream.tasks[task_id].update(status="FAILED", failure="Key {auth} was revoked", failureCode="INTERNAL")
    wait_until(lambda: task_json(console, task_id)["status"] == "FAILED")
    shown = console.get(f"/tasks/{task_id}").text + json.dumps(task_json(console, task_id))
    assert "was revoked" in shown
    assert SECRET not in shown
    for path, data in files_under(make_settings().data_dir).items():
        assert SECRET.encode() not in data, path


def test_pages_ask_for_news_as_often_as_the_operator_says(open_console, fake_upstream):
    fake_upstream.auto_advance = False
    console = open_console(fake_upstream, CONSOLE_PAGE_REFRESH_SECONDS=0.5)
    task_id = create_task(console)
    page = console.get(f"/tasks/{task_id}").text
    assert 'hx-trigger="every 0.5s"' in page
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    gallery = console.get("/tasks").text
    assert 'hx-trigger="every 0.75s"' in gallery  # one request for the whole page, half as often again
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in gallery
