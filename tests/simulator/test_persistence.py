"""The simulator keeps its tasks on disk: after a restart finished ones answer as before, and one
that was still running comes back FAILED with the reason (and its credits refunded)."""

from __future__ import annotations

from tests.simulator.support import KEY, body, create, fetch, wait_for


def test_a_restart_keeps_finished_tasks_and_fails_running_ones_with_a_reason(make_client, clock, tmp_path):
    before = make_client()
    done = create(before, body())
    clock.advance(10)
    finished = wait_for(before, done, "SUCCEEDED")
    video = before.get(finished["output"][0])
    assert video.status_code == 200
    running = create(before, body(promptText="still going [sim:slow]"))
    charged = fetch(before, running)["estimatedCost"]["credits"]
    balance = before.get("/v1/organization", headers=KEY).json()["creditBalance"]

    after = make_client()  # a new process on the same working directory
    again = fetch(after, done)
    assert again["status"] == "SUCCEEDED" and again["cost"] == finished["cost"]
    assert after.get(again["output"][0]).content == video.content
    lost = fetch(after, running)
    assert lost["status"] == "FAILED" and lost["failureCode"] == "INTERNAL"
    assert "restarted while this task was running" in lost["failure"]
    assert lost["cost"] == {"credits": 0}
    # The running task's credits are back; the finished one's stay spent.
    assert after.get("/v1/organization", headers=KEY).json()["creditBalance"] == balance + charged
    assert after.delete(f"/v1/tasks/{done}", headers=KEY).status_code == 204
    assert make_client().get(f"/v1/tasks/{done}", headers=KEY).status_code == 404  # deleted stays deleted
    assert not list((tmp_path / "sim" / "tasks").glob("*.part"))


def test_an_unreadable_task_file_is_skipped(make_client, tmp_path):
    first = make_client()
    kept = create(first, body())
    (tmp_path / "sim" / "tasks" / "broken.json").write_text("{not json")
    assert fetch(make_client(), kept)["id"] == kept
