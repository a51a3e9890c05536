"""The task state machine: statuses, progress, slots and trigger outcomes, on the injected clock."""

from __future__ import annotations

import re
import uuid

import av
import pytest

from app.simulator.triggers import TRIGGERS
from tests.simulator.support import BASE, KEY, body, create, fetch, wait_for

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def statuses_over(client, clock, task_id: str, seconds: float, step: float = 0.1) -> list[str]:
    """The status at every `step` of fake time for `seconds`, starting now."""
    seen = [fetch(client, task_id)["status"]]
    for _ in range(round(seconds / step)):
        clock.advance(step)
        seen.append(fetch(client, task_id)["status"])
    return seen


def test_a_task_lives_from_pending_to_a_playable_video(client, clock, tmp_path):
    response = client.post("/v1/image_to_video", json=body(duration=2), headers=KEY)
    assert response.status_code == 200
    answer = response.json()
    assert uuid.UUID(answer["id"]).version == 4
    assert answer["estimatedCost"] == {"credits": 10}
    task_id = answer["id"]

    task = fetch(client, task_id)
    assert task == {
        "id": task_id,
        "status": "PENDING",
        "createdAt": "2024-11-15T13:54:50.800Z",
        "estimatedCost": {"credits": 10},
    }

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


def test_the_video_has_the_frame_rate_the_settings_ask_for(make_client, clock, tmp_path):
    client = make_client(video_fps=8)
    task_id = create(client, body(duration=2))
    clock.advance(3.0)
    (url,) = wait_for(client, task_id, "SUCCEEDED")["output"]
    path = tmp_path / "eight.mp4"
    path.write_bytes(client.get(url).content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 8
        assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.15)
        assert sum(1 for _ in container.decode(stream)) == 16


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
    ("trigger", "code", "after", "before"),
    [
        ("[sim:moderation]", "INPUT_PREPROCESSING.SAFETY.TEXT", 1.0, "PENDING"),
        ("[sim:asset]", "ASSET.INVALID", 1.0, "PENDING"),
        ("[sim:internal]", "INTERNAL", 2.0, "RUNNING"),
        ("[SIM:Bad-Output]", "INTERNAL.BAD_OUTPUT.CODE01", 3.0, "RUNNING"),
        ("[sim:output-moderation]", "SAFETY.OUTPUT.VIDEO", 3.0, "RUNNING"),
    ],
)
def test_trigger_words_fail_with_their_code_at_their_stage(client, clock, trigger, code, after, before):
    task_id = create(client, body(promptText=f"a cat {trigger} jumps"))
    clock.advance(after - 0.01)
    assert fetch(client, task_id)["status"] == before
    clock.advance(0.01)
    task = fetch(client, task_id)
    assert task["status"] == "FAILED"
    assert task["failureCode"] == code
    (listed,) = [t for t in TRIGGERS if t.word == trigger.lower()]
    assert listed.failure is not None and task["failure"] == listed.failure.message
    assert "output" not in task and "progress" not in task


@pytest.mark.parametrize("trigger", ["[sim:moderation]", "[sim:asset]"])
def test_preprocessing_failures_never_run(make_client, clock, trigger):
    client = make_client(concurrency=1)
    task_id = create(client, body(promptText=trigger))
    seen = statuses_over(client, clock, task_id, 4.0)
    assert "RUNNING" not in seen and "THROTTLED" not in seen
    assert seen[0] == "PENDING" and seen[-1] == "FAILED"
    assert seen.index("FAILED") == 10, "it fails when PENDING ends, after 1.0 s"


def test_moderation_fails_before_running_and_takes_no_slot(make_client, clock):
    client = make_client(concurrency=1)
    moderated = create(client, body(promptText="[sim:moderation]"))
    other = create(client)
    clock.advance(1.0)
    assert fetch(client, moderated)["failure"] == "Text prompt did not pass moderation"
    assert fetch(client, other)["status"] == "RUNNING"


def test_slow_trigger_runs_three_times_longer(client, clock):
    task_id = create(client, body(promptText="[sim:slow] take your time"))
    clock.advance(1.0 + 2.0)
    task = fetch(client, task_id)
    assert task["status"] == "RUNNING" and task["progress"] == pytest.approx(1 / 3, abs=0.01)
    clock.advance(4.0)
    wait_for(client, task_id, "SUCCEEDED")


def test_slow_combines_with_a_failure_trigger(client, clock):
    task_id = create(client, body(promptText="[sim:slow] [sim:internal]"))
    clock.advance(1.0 + 2.9)
    assert fetch(client, task_id)["status"] == "RUNNING"
    clock.advance(0.1)
    assert fetch(client, task_id)["failureCode"] == "INTERNAL", "halfway through a RUNNING of 6 s"


def test_the_first_failure_trigger_in_the_table_wins(client, clock):
    task_id = create(client, body(promptText="[sim:output-moderation] then [sim:asset]"))
    clock.advance(1.0)
    assert fetch(client, task_id)["failureCode"] == "ASSET.INVALID"


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
    assert set(task) == {"id", "status", "createdAt", "cost"} and task["status"] == "CANCELLED"
    assert task["cost"] == {"credits": 0}

    assert client.delete(f"/v1/tasks/{running}", headers=KEY).status_code == 204
    assert client.get(f"/v1/tasks/{running}", headers=KEY).status_code == 404


def test_deleting_a_finished_task_removes_it_and_its_video(client, clock, tmp_path):
    task_id = create(client)
    clock.advance(3.0)
    url = wait_for(client, task_id, "SUCCEEDED")["output"][0]
    assert client.get(url).status_code == 200
    assert (tmp_path / "sim" / f"{task_id}.mp4").is_file()

    assert client.delete(f"/v1/tasks/{task_id}", headers=KEY).status_code == 204
    assert client.get(f"/v1/tasks/{task_id}", headers=KEY).status_code == 404
    assert client.get(url).status_code == 404
    assert client.delete(f"/v1/tasks/{task_id}", headers=KEY).status_code == 404
    assert not (tmp_path / "sim" / f"{task_id}.mp4").exists()
