"""The Runway API on the console, driven by the official `runwayml` SDK against a live console on
loopback (uvicorn in a thread), with the built-in simulator or the fake upstream behind it."""

from __future__ import annotations

import base64
import io
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from runwayml import APIStatusError, AuthenticationError, BadRequestError, NotFoundError, RateLimitError, RunwayML
from runwayml.types.task_retrieve_response import Cancelled, Running, Succeeded

from app.images import DATA_URI_MAX_BYTES, data_uri_length
from app.main import create_app
from tests.fake_upstream import FakeUpstream, started
from tests.helpers import SECRET, LiveServer, image_bytes, sdk_client, wait_until

TOKEN = "rc_test-token-for-ci-0123456789abcdef"
OTHER_TOKEN = "rc_other-token-0123456789abcdefgh"
TOKENS = f"ci={TOKEN},other={OTHER_TOKEN}"


def data_uri(raw: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


FIRST = data_uri(image_bytes(640, 360, (200, 80, 40)))
LAST = data_uri(image_bytes(640, 360, (40, 80, 200)))


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK waits 6 ± 1.5 s between polls and has no setting for it; its pacing is not under test.
    monkeypatch.setattr("runwayml.lib.polling.POLL_TIME", 0.1)
    monkeypatch.setattr("runwayml.lib.polling.POLL_JITTER", 0)


@pytest.fixture
def live_console(make_settings, serve) -> Callable[..., LiveServer]:
    """A console served on loopback with two API tokens; the simulator behind it unless given `upstream`."""

    def start(upstream: FakeUpstream | None = None, *, clock: Any = None, **overrides: object) -> LiveServer:
        if upstream is not None:
            overrides = {"RUNWAYML_BASE_URL": upstream.api_url, "RUNWAYML_API_SECRET": SECRET, **overrides}
        settings = make_settings(CONSOLE_API_TOKENS=TOKENS, **overrides)
        return serve(create_app(settings, clock=clock) if clock else create_app(settings))

    return start


def sdk(server: LiveServer, token: str = TOKEN, base_url: str | None = None, **options: Any) -> RunwayML:
    return sdk_client(token, base_url or server.url, **options)


# --- the whole path ----------------------------------------------------------------------------


def test_wait_for_task_output_gives_a_video_on_the_console_and_the_task_is_in_the_history(live_console, quick_polls):
    server = live_console()
    client = sdk(server)
    created = client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    task = created.wait_for_task_output(timeout=60)
    assert isinstance(task, Succeeded)
    assert task.output[0].startswith(f"{server.url}/v1/videos/{created.id}.mp4?")
    video = httpx.get(task.output[0])  # no token, no session: the signed link is the permission
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    assert task.cost.credits == 25  # the default catalogue's price for 5 s

    history = httpx.get(f"{server.url}/tasks")
    assert created.id in history.text and "ci" in history.text
    page = httpx.get(f"{server.url}/tasks/{created.id}")
    assert page.status_code == 200 and "ci" in page.text


def test_a_first_and_last_frame_list_through_the_relay_style_base_url(live_console, quick_polls):
    server = live_console()
    client = sdk(server, base_url=f"{server.url}/runwayml")
    created = client.image_to_video.create(
        model="gen4_turbo",
        prompt_image=[{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "last"}],
        ratio="1280:720",
        prompt_text="red to blue",
        seed=7,
    )
    task = created.wait_for_task_output(timeout=60)
    assert isinstance(task, Succeeded)
    assert httpx.get(task.output[0]).content[4:8] == b"ftyp"
    page = httpx.get(f"{server.url}/tasks/{created.id}", headers={"Accept": "application/json"}).json()
    assert page["seed"] == 7 and page["duration"] == 5  # duration left out: the catalogue's default


def test_the_task_is_not_succeeded_before_its_video_is_on_the_console(live_console, fake_upstream):
    fake_upstream.queue("cdn", status=503)  # the first download fails
    server = live_console(fake_upstream)
    client = sdk(server)
    created = client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    seen: list[Any] = []

    def succeeded() -> bool:
        seen.append(client.tasks.retrieve(created.id))
        return isinstance(seen[-1], Succeeded)

    wait_until(succeeded, timeout=30)
    assert any(isinstance(t, Running) and t.progress == pytest.approx(0.99) for t in seen)
    assert httpx.get(seen[-1].output[0]).status_code == 200


# --- tokens -----------------------------------------------------------------------------------


def test_a_wrong_or_missing_token_or_the_upstream_key_is_refused(live_console, fake_upstream):
    server = live_console(fake_upstream)
    for token in ("rc_not-a-token-0123456789", SECRET):
        with pytest.raises(AuthenticationError) as refused:
            sdk(server, token=token).tasks.retrieve("a-task")
        assert refused.value.status_code == 401 and "error" in refused.value.body
    bare = httpx.post(f"{server.url}/v1/image_to_video", json={"model": "gen4_turbo"})
    assert bare.status_code == 401 and bare.json()["error"]
    # A page in another site posting with the visitor's browser has no token either.
    cross_site = httpx.post(
        f"{server.url}/v1/image_to_video", json={}, headers={"Origin": "https://evil.example", "Cookie": "x=y"}
    )
    assert cross_site.status_code == 401
    assert not fake_upstream.calls("POST")
    assert SECRET not in bare.text


def test_tokens_see_only_their_own_tasks(live_console, fake_upstream):
    server = live_console(fake_upstream)
    created = sdk(server).image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    with pytest.raises(NotFoundError):
        sdk(server, token=OTHER_TOKEN).tasks.retrieve(created.id)
    with pytest.raises(NotFoundError):
        sdk(server, token=OTHER_TOKEN).tasks.delete(created.id)


# --- validation --------------------------------------------------------------------------------


def test_a_bad_request_is_a_bad_request_error_with_issues_and_nothing_goes_upstream(live_console, fake_upstream):
    server = live_console(fake_upstream)
    client = sdk(server, max_retries=0)
    with pytest.raises(BadRequestError) as refused:
        client.image_to_video.create(
            model="gen4_turbo",
            prompt_image=[{"uri": FIRST, "position": "first"}, {"uri": "http://cdn.example/a.png", "position": "last"}],
            ratio="16:9",
            duration=7,
        )
    body = refused.value.body
    assert body["error"] == "Validation of body failed" and body["docUrl"]
    paths = {tuple(issue["path"]) for issue in body["issues"]}
    assert {("ratio",), ("duration",), ("promptImage", 1, "uri")} <= paths
    messages = {tuple(issue["path"]): issue["message"] for issue in body["issues"]}
    assert messages[("ratio",)].startswith("Invalid ratio for gen4_turbo")  # the API's words, not the form's
    assert not fake_upstream.calls("POST")


def test_the_api_and_the_form_refuse_the_same_things(live_console, fake_upstream):
    server = live_console(fake_upstream)
    wide = data_uri(image_bytes(1000, 300))  # ratio 3.3: the upstream refuses it, so do both faces
    api = httpx.post(
        f"{server.url}/v1/image_to_video",
        json={"model": "gen4_turbo", "promptImage": wide, "ratio": "1280:720", "duration": 5},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Runway-Version": "2024-11-06"},
    )
    assert api.status_code == 400 and api.json()["issues"][0]["path"] == ["promptImage"]
    form = httpx.post(
        f"{server.url}/tasks",
        data={"model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "first_frame_url": wide},
        headers={"Accept": "application/json"},
    )
    assert form.status_code == 422 and "first_frame" in form.json()["errors"]
    assert not fake_upstream.calls("POST")


def test_the_version_header_is_required(live_console, fake_upstream):
    server = live_console(fake_upstream)
    answer = httpx.get(f"{server.url}/v1/tasks/x", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 400 and "X-Runway-Version" in answer.json()["issues"][0]["message"]


def test_optional_fields_go_upstream_only_where_the_catalogue_says(live_console, fake_upstream, tmp_path):
    catalogue = tmp_path / "official.json"
    catalogue.write_text(
        '{"optional_fields": [], "models": [{"id": "gen4_turbo", "ratios": ["1280:720"], "durations": [5, 10],'
        ' "positions": ["first"], "default_duration": 5, "prices": {"5": 25, "10": 50}}]}'
    )
    server = live_console(fake_upstream, CONSOLE_CATALOGUE=catalogue)
    client = sdk(server, max_retries=0)
    with pytest.raises(BadRequestError) as refused:
        client.image_to_video.create(
            model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", extra_body={"notify_hook": "https://h.example/"}
        )
    assert refused.value.body["issues"][0]["path"] == ["notify_hook"]
    client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720")
    form = httpx.post(
        f"{server.url}/tasks",
        data={"model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "first_frame_url": FIRST, "watermark": "on"},
    )
    assert form.status_code == 303
    for call in fake_upstream.calls("POST", "image_to_video"):
        sent = call.json()
        assert "watermark" not in sent and "notify_hook" not in sent and sent["duration"] == 5


# --- cancelling and deleting ---------------------------------------------------------------------


def test_delete_cancels_a_running_task_then_deletes_it(live_console, fake_upstream):
    fake_upstream.auto_advance = False
    server = live_console(fake_upstream)
    client = sdk(server)
    created = client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    client.tasks.delete(created.id)
    cancelled = client.tasks.retrieve(created.id)
    assert isinstance(cancelled, Cancelled) and cancelled.cost.credits == 0
    client.tasks.delete(created.id)
    with pytest.raises(NotFoundError):
        client.tasks.retrieve(created.id)
    assert len(fake_upstream.calls("DELETE")) == 2


# --- never a second paid task ---------------------------------------------------------------------


def test_an_upstream_that_does_not_confirm_is_not_retried_by_the_sdk(live_console, fake_upstream):
    fake_upstream.queue("create", hang_seconds=2)
    server = live_console(fake_upstream, CONSOLE_UPSTREAM_TIMEOUT=0.3)
    client = sdk(server)  # the SDK's default: two retries of any 5xx, POSTs included
    with pytest.raises(Exception) as failed:
        client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    assert getattr(failed.value, "status_code", None) == 504
    assert len(fake_upstream.calls("POST", "image_to_video")) == 1


def test_a_create_the_console_cannot_record_is_not_sent_upstream(live_console, fake_upstream, tmp_path):
    server = live_console(fake_upstream, CONSOLE_API_RATE_PER_MINUTE=0, CONSOLE_DB_BUSY_TIMEOUT=0.2)
    blocker = sqlite3.connect(tmp_path / "data" / "console.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # every write waits out its busy timeout, then fails
    try:
        with pytest.raises(APIStatusError) as refused:
            sdk(server, max_retries=0).image_to_video.create(
                model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5
            )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert refused.value.status_code == 503 and refused.value.response.headers["retry-after"] == "5"
    assert "did not send it" in refused.value.body["error"]
    assert fake_upstream.calls("POST", "image_to_video") == []  # a retry cannot start a second task


def test_a_create_the_upstream_accepted_answers_its_id_even_if_recording_fails(live_console, serve, tmp_path):
    held: list[sqlite3.Connection] = []

    def lock_the_database_on_create(app: Any) -> Any:
        async def locked(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["method"] == "POST":
                blocker = sqlite3.connect(
                    tmp_path / "data" / "console.db", isolation_level=None, check_same_thread=False
                )
                blocker.execute("BEGIN EXCLUSIVE")  # the console's write after this answer fails
                held.append(blocker)
            await app(scope, receive, send)

        return locked

    fake_upstream = started(serve, wrap=lock_the_database_on_create)
    server = live_console(fake_upstream, CONSOLE_API_RATE_PER_MINUTE=0, CONSOLE_DB_BUSY_TIMEOUT=0.2)
    try:
        created = sdk(server, max_retries=0).image_to_video.create(
            model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5
        )
    finally:
        for blocker in held:
            blocker.execute("ROLLBACK")
            blocker.close()
    assert created.id in fake_upstream.tasks
    assert len(fake_upstream.calls("POST", "image_to_video")) == 1


def test_upstream_refusals_keep_runway_shape(live_console, fake_upstream):
    server = live_console(fake_upstream)
    client = sdk(server, max_retries=0)
    fake_upstream.queue("create", status=400, body='{"error": "You do not have enough credits to run this task."}')
    with pytest.raises(BadRequestError) as refused:
        client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    assert "credits" in refused.value.body["error"]
    fake_upstream.queue("create", status=502, body="<html><title>Bad gateway</title></html>", content_type="text/html")
    answer = httpx.post(
        f"{server.url}/v1/image_to_video",
        json={"model": "gen4_turbo", "promptImage": FIRST, "ratio": "1280:720", "duration": 5},
        headers={"Authorization": f"Bearer {TOKEN}", "X-Runway-Version": "2024-11-06"},
    )
    assert answer.status_code == 502 and answer.headers["x-should-retry"] == "false"
    assert SECRET not in answer.text


# --- rate limit ---------------------------------------------------------------------------------------


def test_each_token_has_a_rate_limit_kept_in_the_store(live_console, fake_upstream):
    now = [1_000_040.0]  # 20 s into a clock minute
    server = live_console(fake_upstream, clock=lambda: now[0], CONSOLE_API_RATE_PER_MINUTE=2)
    client = sdk(server, max_retries=0)
    for _ in range(2):
        with pytest.raises(NotFoundError):
            client.tasks.retrieve("unknown-task")
    with pytest.raises(RateLimitError) as limited:
        client.tasks.retrieve("unknown-task")
    assert limited.value.response.headers["Retry-After"] == "40"
    with pytest.raises(NotFoundError):  # another token has its own count
        sdk(server, token=OTHER_TOKEN, max_retries=0).tasks.retrieve("unknown-task")
    now[0] += 40
    with pytest.raises(NotFoundError):  # a new minute
        client.tasks.retrieve("unknown-task")


# --- uploads -------------------------------------------------------------------------------------------


def big_photo(path: Path, megabytes: float) -> Path:
    """A smooth image stored as an uncompressed PNG: about `megabytes` on disk, like a camera's TIFF-sized PNG."""
    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    gradient = Image.linear_gradient("L").resize((side, side))
    Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.ROTATE_90), gradient)).save(
        path, "PNG", compress_level=0
    )
    return path


def test_a_20_mb_photo_through_create_ephemeral_then_image_to_video(live_console, quick_polls, tmp_path):
    server = live_console()
    client = sdk(server)
    photo = big_photo(tmp_path / "big.png", 20)
    assert photo.stat().st_size > 20 * 1000 * 1000
    uploaded = client.uploads.create_ephemeral(file=photo)
    assert uploaded.uri.startswith("runway://")
    task = client.image_to_video.create(
        model="gen4_turbo", prompt_image=uploaded.uri, ratio="960:960", duration=5
    ).wait_for_task_output(timeout=60)
    assert isinstance(task, Succeeded)
    kept = list((tmp_path / "data" / "frames").iterdir())
    assert kept and all(data_uri_length(f.stat().st_size, "image/jpeg") <= DATA_URI_MAX_BYTES for f in kept)


def test_an_upload_url_is_signed_one_time_and_bounded(live_console, fake_upstream, tmp_path):
    server = live_console(fake_upstream, CONSOLE_API_UPLOAD_MAX_MB=1)
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Runway-Version": "2024-11-06"}
    start = httpx.post(f"{server.url}/v1/uploads", json={"filename": "a.png", "type": "ephemeral"}, headers=headers)
    slot = start.json()
    assert slot["uploadUrl"].startswith(f"{server.url}/v1/uploads/")
    files = {"file": ("a.png", image_bytes(), "image/png")}
    forged = slot["uploadUrl"].replace("sig=", "sig=0")
    assert httpx.post(forged, files=files).status_code == 403
    assert httpx.post(slot["uploadUrl"], files=files).status_code == 204
    assert httpx.post(slot["uploadUrl"], files=files).status_code == 409  # one-time

    big = httpx.post(f"{server.url}/v1/uploads", json={"filename": "b.png", "type": "ephemeral"}, headers=headers)
    huge = {"file": ("b.png", io.BytesIO(os.urandom(2 * 1024 * 1024)), "image/png")}
    assert httpx.post(big.json()["uploadUrl"], files=huge).status_code == 413

    # The same without a Content-Length (chunked): cut at the cap, in the API's words.
    chunked = httpx.post(f"{server.url}/v1/uploads", json={"filename": "c.png", "type": "ephemeral"}, headers=headers)
    huge["file"][1].seek(0)
    request = httpx.Request("POST", chunked.json()["uploadUrl"], files=huge)
    content_type = request.headers["content-type"]
    body = request.read()
    cut = httpx.post(
        chunked.json()["uploadUrl"],
        content=(body[start : start + 65536] for start in range(0, len(body), 65536)),
        headers={"Content-Type": content_type},
    )
    assert cut.status_code == 413, cut.text
    assert "larger than 1 MB" in cut.json()["error"]

    # Another token cannot use the URI.
    with pytest.raises(BadRequestError):
        sdk(server, token=OTHER_TOKEN, max_retries=0).image_to_video.create(
            model="gen4_turbo", prompt_image=slot["runwayUri"], ratio="1280:720", duration=5
        )
    created = sdk(server).image_to_video.create(
        model="gen4_turbo", prompt_image=slot["runwayUri"], ratio="1280:720", duration=5
    )
    sent = fake_upstream.calls("POST", "image_to_video")[-1].json()
    assert sent["promptImage"][0]["uri"].startswith("data:image/")
    assert created.id


def test_a_video_url_needs_its_signature(live_console, quick_polls):
    server = live_console()
    client = sdk(server)
    task = client.image_to_video.create(
        model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5
    ).wait_for_task_output(timeout=60)
    url = task.output[0]
    assert httpx.get(url.split("?")[0]).status_code == 403
    assert httpx.get(url.replace("exp=", "exp=1")).status_code == 403


# --- the account ---------------------------------------------------------------------------------------


def test_organization_is_passed_through_where_the_upstream_has_it(live_console, fake_upstream):
    simulated = live_console()
    org = sdk(simulated).organization.retrieve()
    assert org.credit_balance >= 0 and "gen4_turbo" in org.tier.models
    relay = live_console(fake_upstream)
    with pytest.raises(NotFoundError) as missing:
        sdk(relay, max_retries=0).organization.retrieve()
    assert missing.value.body["error"]
    assert SECRET not in str(missing.value.body)


def test_concurrent_creates_each_get_their_own_task(live_console, fake_upstream):
    server = live_console(fake_upstream)
    ids: list[str] = []

    def create() -> None:
        ids.append(
            sdk(server).image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5).id
        )

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 4


def test_links_honour_the_root_path_behind_a_proxy(live_console, quick_polls):
    server = live_console(CONSOLE_ROOT_PATH="/runway")
    client = sdk(server, base_url=f"{server.url}/runway")
    uploaded = client.uploads.create_ephemeral(file=("a.png", image_bytes(), "image/png"))
    task = client.image_to_video.create(
        model="gen4_turbo", prompt_image=uploaded.uri, ratio="1280:720", duration=5
    ).wait_for_task_output(timeout=60)
    assert task.output[0].startswith(f"{server.url}/runway/v1/videos/")
    assert httpx.get(task.output[0]).content[4:8] == b"ftyp"
    forwarded = httpx.get(
        f"{server.url}/runway/v1/tasks/{task.id}",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Runway-Version": "2024-11-06", "Host": "console.example"},
    ).json()
    assert forwarded["output"][0].startswith("http://console.example/runway/v1/videos/")
