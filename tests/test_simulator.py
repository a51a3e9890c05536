"""The simulated upstream, driven over HTTP like the console drives the real API."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import av
import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette

from app.catalogue import Catalogue, ModelSpec
from app.config import Settings
from app.simulator import SimulatorConfig, create_simulator_app

KEY = {"Authorization": "Bearer test-key"}
BASE = "http://sim"
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RENDER_WAIT_SECONDS = 20.0

CATALOGUE = Catalogue(
    models=(
        ModelSpec(
            id="tiny",
            ratios=("1280:720", "720:1280", "960:960"),
            durations=(1, 2),
            prices={1: 5, 2: 10},
        ),
        ModelSpec(id="firstonly", ratios=("1280:720",), durations=(1,), positions=("first",), prompt_max_units=20),
    )
)


class Client:
    """Synchronous calls into the app through httpx.ASGITransport, the way the console drives it."""

    def __init__(self, app: Starlette, base_url: str = BASE) -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as http:
                return await http.request(method, url, **kwargs)

        return asyncio.run(call())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def data_uri(size: tuple[int, int] = (64, 36), colour: str = "red", fmt: str = "PNG", mime: str = "image/png") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, fmt)
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode()}"


FIRST = data_uri(colour="red")
LAST = data_uri(colour="blue")


def body(**changes: object) -> dict[str, object]:
    """A valid create body with `changes` applied; a change to `...` leaves the field out."""
    payload: dict[str, object] = {
        "model": "tiny",
        "ratio": "1280:720",
        "duration": 1,
        "promptImage": [{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "last"}],
        "promptText": "a red square turns blue",
        "seed": 42,
        "watermark": False,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(1_731_678_890.8)


# make_client and client deliberately override conftest's console fixtures in this module.
@pytest.fixture
def make_client(tmp_path: Path, clock: FakeClock, wall: FakeClock) -> Iterator[Callable[..., Client]]:
    apps: list[Starlette] = []

    def make(catalogue: Catalogue = CATALOGUE, **config: Any) -> Client:
        settings = {"pending_seconds": 1.0, "running_seconds": 2.0, "video_max_side": 128, **config}
        app = create_simulator_app(catalogue, SimulatorConfig(**settings), tmp_path / "sim", clock=clock, wall=wall)
        apps.append(app)
        return Client(app)

    yield make
    for app in apps:
        app.state.simulator.close()


@pytest.fixture
def client(make_client) -> Client:
    return make_client()


def create(client: Client, payload: dict[str, object] | None = None) -> str:
    response = client.post("/v1/image_to_video", json=payload or body(), headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def fetch(client: Client, task_id: str) -> dict[str, object]:
    response = client.get(f"/v1/tasks/{task_id}", headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(client: Client, task_id: str, status: str) -> dict[str, object]:
    """Poll until the background render lets the task reach `status` (real time, not the fake clock)."""
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while True:
        task = fetch(client, task_id)
        if task["status"] == status or time.monotonic() > deadline:
            assert task["status"] == status, task
            return task
        time.sleep(0.02)


def issue_paths(response: httpx.Response) -> list[list[object]]:
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "Validation of body failed"
    assert answer["docUrl"].startswith("https://")
    for issue in answer["issues"]:
        assert issue["message"] and not issue["message"].startswith("errors."), issue
    return [issue["path"] for issue in answer["issues"]]


def test_a_task_lives_from_pending_to_a_playable_video(client, clock, tmp_path):
    response = client.post("/v1/image_to_video", json=body(duration=2), headers=KEY)
    assert response.status_code == 200
    answer = response.json()
    assert uuid.UUID(answer["id"]).version == 4
    assert answer["estimatedCost"] == {"credits": 10}
    task_id = answer["id"]

    task = fetch(client, task_id)
    assert task == {"id": task_id, "status": "PENDING", "createdAt": "2024-11-15T13:54:50.800Z"}

    clock.advance(1.0)
    progress = [fetch(client, task_id)]
    for _ in range(3):
        clock.advance(0.5)
        progress.append(fetch(client, task_id))
    assert [t["status"] for t in progress] == ["RUNNING"] * 4
    values = [t["progress"] for t in progress]
    assert values == sorted(values) and values[0] < values[-1] < 1
    assert values[2] == pytest.approx(0.5)

    clock.advance(0.5)
    done = wait_for(client, task_id, "SUCCEEDED")
    assert CREATED_AT.match(done["createdAt"])
    assert "progress" not in done and "failure" not in done
    (url,) = done["output"]
    assert url.startswith(f"{BASE}/outputs/{task_id}.mp4?")

    video = client.get(url)
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    path = tmp_path / "downloaded.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert (stream.width, stream.height) == (128, 72)
        assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.05)
        assert sum(1 for _ in container.decode(stream)) == 48

    part = client.get(url, headers={"Range": "bytes=100-299"})
    assert part.status_code == 206
    assert part.content == video.content[100:300]
    assert part.headers["content-range"] == f"bytes 100-299/{len(video.content)}"


def test_output_urls_follow_the_base_url_the_client_uses(make_client, clock):
    client = make_client()
    task_id = create(client, body(promptImage=FIRST))
    clock.advance(3.0)
    wait_for(client, task_id, "SUCCEEDED")
    other = Client(client.app, base_url="https://simulator.internal/")
    url = other.get(f"/v1/tasks/{task_id}", headers=KEY).json()["output"][0]
    assert url.startswith(f"https://simulator.internal/outputs/{task_id}.mp4?exp=")
    assert other.get(url).content[4:8] == b"ftyp"


def test_the_lifespan_closes_the_simulator(tmp_path):
    app = create_simulator_app(CATALOGUE, SimulatorConfig(), tmp_path / "sim")

    async def run_lifespan() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(run_lifespan())
    response = Client(app).post("/v1/image_to_video", json=body(), headers=KEY)
    assert response.status_code == 503
    assert "error" in response.json()


def test_root_says_it_is_a_simulator(client):
    answer = client.get("/").json()
    assert answer["service"] == "runway-console simulator"
    assert "[sim:moderation]" in answer["triggers"]


def test_tasks_over_the_concurrency_limit_are_throttled_until_a_slot_frees(make_client, clock):
    client = make_client(concurrency=1)
    first, second, third = (create(client) for _ in range(3))
    clock.advance(1.0)
    assert fetch(client, first)["status"] == "RUNNING"
    assert fetch(client, second)["status"] == "THROTTLED"
    assert fetch(client, third)["status"] == "THROTTLED"

    clock.advance(2.0)
    wait_for(client, first, "SUCCEEDED")
    assert fetch(client, second)["status"] == "RUNNING"
    assert fetch(client, third)["status"] == "THROTTLED"

    assert client.delete(f"/v1/tasks/{second}", headers=KEY).status_code == 204
    assert fetch(client, second)["status"] == "CANCELLED"
    running = fetch(client, third)
    assert running["status"] == "RUNNING" and running["progress"] == 0


def test_a_failed_task_frees_its_slot_when_it_fails(make_client, clock):
    client = make_client(concurrency=1)
    failing = create(client, body(promptText="[sim:internal]"))
    waiting = create(client)
    clock.advance(1.0)
    assert fetch(client, waiting)["status"] == "THROTTLED"
    clock.advance(1.5)
    assert fetch(client, failing)["status"] == "FAILED"
    task = fetch(client, waiting)
    assert task["status"] == "RUNNING"
    assert task["progress"] == pytest.approx(0.25), "it started when the slot freed, not when it was next polled"


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"model": ...}, ["model"]),
        ({"model": "gen9"}, ["model"]),
        ({"model": 7}, ["model"]),
        ({"ratio": "1920:1080"}, ["ratio"]),
        ({"ratio": ...}, ["ratio"]),
        ({"ratio": ["1280:720"]}, ["ratio"]),
        ({"duration": 3}, ["duration"]),
        ({"duration": "1"}, ["duration"]),
        ({"duration": True}, ["duration"]),
        ({"duration": 1.5}, ["duration"]),
        ({"duration": ...}, ["duration"]),
        ({"seed": -1}, ["seed"]),
        ({"seed": 4_294_967_296}, ["seed"]),
        ({"seed": "42"}, ["seed"]),
        ({"seed": False}, ["seed"]),
        ({"promptText": 12}, ["promptText"]),
        ({"promptText": "🎬" * 501}, ["promptText"]),
        ({"watermark": "no"}, ["watermark"]),
        ({"notify_hook": 1}, ["notify_hook"]),
        ({"promptImage": ...}, ["promptImage"]),
        ({"promptImage": 5}, ["promptImage"]),
        ({"promptImage": []}, ["promptImage"]),
        ({"promptImage": "http://example.com/a.png"}, ["promptImage"]),
        ({"promptImage": [{"uri": LAST, "position": "last"}]}, ["promptImage"]),
        ({"promptImage": ["https://example.com/a.png"]}, ["promptImage", 0]),
        ({"promptImage": [{"uri": "https://203.0.113.9/a.png", "position": "first"}]}, ["promptImage", 0, "uri"]),
        (
            {"promptImage": [{"uri": "https://example.com/" + "a" * 2100, "position": "first"}]},
            ["promptImage", 0, "uri"],
        ),
        ({"promptImage": [{"position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": FIRST}]}, ["promptImage", 0, "position"]),
        ({"promptImage": [{"uri": FIRST, "position": 1}]}, ["promptImage", 0, "position"]),
        ({"promptImage": [{"uri": "data:image/png;base64,!!!", "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": "data:text/plain;base64,aGk=", "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": "data:image/png;base64,aGVsbG8=", "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": data_uri(fmt="GIF"), "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": data_uri((300, 100)), "position": "first"}]}, ["promptImage", 0, "uri"]),
        (
            {"promptImage": [{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "middle"}]},
            ["promptImage", 1, "position"],
        ),
        (
            {"promptImage": [{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "first"}]},
            ["promptImage", 1, "position"],
        ),
        (
            {"promptImage": [{"uri": FIRST, "position": "first"}, {"uri": "ftp://x/a.png", "position": "last"}]},
            ["promptImage", 1, "uri"],
        ),
    ],
)
def test_bad_bodies_get_runway_shaped_issues(client, changes, path):
    response = client.post("/v1/image_to_video", json=body(**changes), headers=KEY)
    assert path in issue_paths(response)


def test_every_issue_is_reported_at_once(client):
    payload = body(
        ratio="1:1",
        duration=7,
        seed="x",
        promptImage=[{"uri": "http://a.example/a.png", "position": "first"}, {"uri": LAST, "position": "side"}],
    )
    paths = issue_paths(client.post("/v1/image_to_video", json=payload, headers=KEY))
    for expected in (["ratio"], ["duration"], ["seed"], ["promptImage", 0, "uri"], ["promptImage", 1, "position"]):
        assert expected in paths


def test_a_data_uri_over_five_megabytes_is_refused(client):
    huge = "data:image/png;base64," + "A" * (5 * 1024 * 1024)
    response = client.post("/v1/image_to_video", json=body(promptImage=huge), headers=KEY)
    answer = response.json()
    assert issue_paths(response) == [["promptImage"]]
    assert "MB" in answer["issues"][0]["message"]


def test_a_last_frame_is_refused_where_the_catalogue_forbids_it(client):
    payload = body(model="firstonly", promptText="short")
    response = client.post("/v1/image_to_video", json=payload, headers=KEY)
    assert issue_paths(response) == [["promptImage", 1, "position"]]
    assert response.json()["issues"][0]["message"] == "firstonly does not accept a last frame."


def test_a_prompt_over_the_models_limit_is_refused(client):
    payload = body(model="firstonly", promptImage=FIRST, promptText="x" * 21)
    assert issue_paths(client.post("/v1/image_to_video", json=payload, headers=KEY)) == [["promptText"]]


def test_credits_trigger_answers_in_the_plain_shape(client):
    response = client.post("/v1/image_to_video", json=body(promptText="go [sim:credits]"), headers=KEY)
    assert response.status_code == 400
    assert response.json() == {"error": "You do not have enough credits to run this task."}


def test_estimated_cost_is_left_out_for_other_currencies(make_client):
    client = make_client(Catalogue(currency="USD", models=CATALOGUE.models))
    answer = client.post("/v1/image_to_video", json=body(), headers=KEY).json()
    assert set(answer) == {"id"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "test-key"])
def test_requests_without_a_bearer_key_are_refused(client, header):
    headers = {} if header is None else {"Authorization": header}
    for response in (
        client.post("/v1/image_to_video", json=body(), headers=headers),
        client.get(f"/v1/tasks/{uuid.uuid4()}", headers=headers),
        client.delete(f"/v1/tasks/{uuid.uuid4()}", headers=headers),
    ):
        assert response.status_code == 401
        assert isinstance(response.json()["error"], str)


def test_a_configured_secret_refuses_other_keys_without_echoing_them(make_client):
    client = make_client(api_secret="right-secret")
    wrong = client.post("/v1/image_to_video", json=body(), headers={"Authorization": "Bearer wrong-secret-123"})
    assert wrong.status_code == 401
    assert "wrong-secret-123" not in wrong.text and "right-secret" not in wrong.text
    right = client.post("/v1/image_to_video", json=body(), headers={"Authorization": "Bearer right-secret"})
    assert right.status_code == 200
    assert "right-secret" not in right.text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b"1" * 5000,
        b"[" * 100_000,
        b"\xff\xfe\x00",
        b'{"model": {"a": 1}, "ratio": null, "duration": 1e400, "seed": NaN}',
        b'{"promptImage": [[], null, 3, {"uri": [], "position": {}}]}',
        b'{"promptImage": "data:image/png;base64,", "duration": -0.0}',
        b'{"duration": 100000000000000000000000000000, "seed": -1e308, "model": "tiny"}',
        json.dumps(body(model="x" * 100_000)).encode(),
        json.dumps(body(model="\udc80", ratio="\ud800")).encode(),
        json.dumps(
            body(promptImage=[{"uri": FIRST, "position": "first"}, {"uri": "\ud800", "position": "\ud800"}])
        ).encode(),
    ],
)
def test_garbage_bodies_get_a_json_4xx_never_a_500(client, raw):
    response = client.post("/v1/image_to_video", content=raw, headers={**KEY, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert isinstance(response.json()["error"], str)


def test_a_frame_with_broken_exif_is_used_as_stored(client):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), "red").save(buffer, "PNG", exif=b"XM\x00*\x00\x00\x00\x08\x00\x00")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert client.post("/v1/image_to_video", json=body(promptImage=uri), headers=KEY).status_code == 200


def test_a_lone_surrogate_in_the_prompt_is_accepted_like_javascript_would(client):
    raw = json.dumps(body(promptText="\ud800 x")).encode()
    response = client.post("/v1/image_to_video", content=raw, headers={**KEY, "Content-Type": "application/json"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/tasks/not-a-task"),
        ("GET", "/v1/tasks/%00"),
        ("GET", "/v1/tasks/..%2F..%2Fetc%2Fpasswd"),
        ("GET", "/v1/tasks/" + "x" * 5000),
        ("DELETE", "/v1/tasks/%F0%9F%8E%AC"),
        ("GET", "/v1/nothing"),
        ("PUT", "/v1/tasks/abc"),
        ("GET", "/v1/image_to_video"),
        ("GET", "/outputs/../secret.mp4"),
        ("GET", "/outputs/abc.mp4?exp=1&sig=2"),
        ("GET", f"/outputs/{uuid.uuid4()}.mp4?exp={'9' * 5000}&sig=x"),
    ],
)
def test_weird_paths_and_ids_get_a_4xx(client, method, path):
    response = client.request(method, path, headers=KEY)
    assert 400 <= response.status_code < 500


def test_an_unknown_task_is_not_found(client):
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/v1/tasks/{uuid.uuid4()}", headers=KEY)
        assert response.status_code == 404
        assert response.json() == {"error": "Task not found"}


@pytest.mark.parametrize(
    ("trigger", "code", "after"),
    [
        ("[sim:moderation]", "INPUT_PREPROCESSING.SAFETY.TEXT", 1.0),
        ("[sim:asset]", "ASSET.INVALID", 1.0),
        ("[sim:internal]", "INTERNAL", 2.0),
        ("[SIM:Bad-Output]", "INTERNAL.BAD_OUTPUT.CODE01", 3.0),
        ("[sim:output-moderation]", "SAFETY.OUTPUT.VIDEO", 3.0),
    ],
)
def test_trigger_words_fail_with_their_code(client, clock, trigger, code, after):
    task_id = create(client, body(promptText=f"a cat {trigger} jumps"))
    clock.advance(after - 0.01)
    assert fetch(client, task_id)["status"] in ("PENDING", "RUNNING")
    clock.advance(0.01)
    task = fetch(client, task_id)
    assert task["status"] == "FAILED"
    assert task["failureCode"] == code
    assert isinstance(task["failure"], str) and task["failure"]
    assert "output" not in task and "progress" not in task


def test_moderation_fails_before_running(client, clock):
    task_id = create(client, body(promptText="[sim:moderation]"))
    clock.advance(1.0)
    task = fetch(client, task_id)
    assert task["failure"] == "Text prompt did not pass moderation"


def test_slow_trigger_runs_three_times_longer(client, clock):
    task_id = create(client, body(promptText="[sim:slow] take your time"))
    clock.advance(1.0 + 2.0)
    task = fetch(client, task_id)
    assert task["status"] == "RUNNING" and task["progress"] == pytest.approx(1 / 3, abs=0.01)
    clock.advance(4.0)
    wait_for(client, task_id, "SUCCEEDED")


def test_an_unreachable_image_url_fails_the_task_as_an_invalid_asset(client, clock):
    # Port 1 on loopback refuses at once: the same outcome as a simulator with no internet.
    payload = body(
        promptImage=[{"uri": FIRST, "position": "first"}, {"uri": "https://localhost:1/b.png", "position": "last"}]
    )
    task_id = create(client, payload)
    clock.advance(1.0)
    task = wait_for(client, task_id, "FAILED")
    assert task["failureCode"] == "ASSET.INVALID"
    assert "promptImage[1]" in task["failure"]


def test_deleting_an_active_task_cancels_it(client, clock):
    pending = create(client)
    assert client.delete(f"/v1/tasks/{pending}", headers=KEY).status_code == 204
    assert fetch(client, pending)["status"] == "CANCELLED"

    running = create(client)
    clock.advance(1.5)
    assert fetch(client, running)["status"] == "RUNNING"
    response = client.delete(f"/v1/tasks/{running}", headers=KEY)
    assert response.status_code == 204 and response.content == b""
    clock.advance(10)
    task = fetch(client, running)
    assert set(task) == {"id", "status", "createdAt"} and task["status"] == "CANCELLED"

    assert client.delete(f"/v1/tasks/{running}", headers=KEY).status_code == 204
    assert client.get(f"/v1/tasks/{running}", headers=KEY).status_code == 404


def test_deleting_a_finished_task_removes_it_and_its_video(client, clock):
    task_id = create(client)
    clock.advance(3.0)
    url = wait_for(client, task_id, "SUCCEEDED")["output"][0]
    assert client.get(url).status_code == 200

    assert client.delete(f"/v1/tasks/{task_id}", headers=KEY).status_code == 204
    assert client.get(f"/v1/tasks/{task_id}", headers=KEY).status_code == 404
    assert client.get(url).status_code == 404
    assert client.delete(f"/v1/tasks/{task_id}", headers=KEY).status_code == 404


def test_output_urls_are_signed_and_expire(make_client, clock, wall):
    client = make_client(url_ttl_seconds=60)
    task_id = create(client)
    clock.advance(3.0)
    url = wait_for(client, task_id, "SUCCEEDED")["output"][0]
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert int(query["exp"]) == int(wall.now + 60)

    def with_query(**changes: str) -> str:
        return f"{parts.path}?{urlencode({**query, **changes})}"

    assert client.get(url).status_code == 200, "no Authorization header is needed"
    tampered = query["sig"][:-1] + ("0" if query["sig"][-1] != "0" else "1")
    assert client.get(with_query(sig=tampered)).status_code == 403
    assert client.get(with_query(exp=str(int(query["exp"]) + 3600))).status_code == 403
    assert client.get(parts.path).status_code == 403
    other = create(client)
    assert client.get(with_query().replace(task_id, other)).status_code == 403

    wall.advance(61)
    expired = client.get(url)
    assert expired.status_code == 403
    assert "AccessDenied" in expired.text and "Request has expired" in expired.text

    fresh = fetch(client, task_id)["output"][0]
    assert fresh != url
    assert client.get(fresh).status_code == 200


def test_settings_map_onto_the_simulator_config():
    settings = Settings(
        sim_pending_seconds=0.5,
        sim_running_seconds=3,
        sim_concurrency=4,
        sim_url_ttl_seconds=120,
        sim_video_max_side=256,
        sim_api_secret="s3cret",
    )
    config = SimulatorConfig.from_settings(settings)
    assert config == SimulatorConfig(
        pending_seconds=0.5,
        running_seconds=3.0,
        concurrency=4,
        url_ttl_seconds=120.0,
        video_max_side=256,
        api_secret="s3cret",
    )
    assert "s3cret" not in repr(config)
