"""New seed: the stored request again, same frames (not uploaded again) and settings, a fresh seed."""

from __future__ import annotations

from app.i18n import load_messages
from tests.helpers import SECRET, create_task

EN = load_messages()["en"]


def sent_bodies(fake_upstream):
    return [call.json() for call in fake_upstream.calls("POST", "/image_to_video")]


def test_new_seed_runs_the_same_request_with_another_seed(console, fake_upstream, png):
    task_id = create_task(console, png, seed="99", watermark="true", notify_hook="https://hooks.example.com/h")

    response = console.post(f"/tasks/{task_id}/new-seed")

    assert response.status_code == 303
    new_id = response.headers["location"].rsplit("/", 1)[1]
    assert new_id != task_id
    first, second = sent_bodies(fake_upstream)
    assert second["seed"] != 99
    assert {k: v for k, v in second.items() if k != "seed"} == {k: v for k, v in first.items() if k != "seed"}
    task = console.get(f"/tasks/{new_id}", headers={"Accept": "application/json"}).json()
    assert task["seed"] == second["seed"] and task["model"] == "gen4_turbo"
    page = console.get(f"/tasks/{new_id}").text
    assert EN["task.seed_rolled"] in page


def test_new_seed_keeps_a_frame_given_by_url_and_answers_json(console, fake_upstream):
    task_id = create_task(console)

    response = console.post(f"/tasks/{task_id}/new-seed", headers={"Accept": "application/json"})

    assert response.status_code == 201
    assert sent_bodies(fake_upstream)[1]["promptImage"] == sent_bodies(fake_upstream)[0]["promptImage"]
    assert response.json()["seed"] == sent_bodies(fake_upstream)[1]["seed"]


def test_the_task_page_offers_new_seed_as_a_plain_form(console, png):
    task_id = create_task(console, png)
    page = console.get(f"/tasks/{task_id}").text
    assert f'action="/tasks/{task_id}/new-seed"' in page and EN["task.new_seed"] in page
    assert EN["task.reuse"] in page


def test_a_frame_no_longer_stored_is_said_plainly_and_nothing_is_sent(console, fake_upstream, png, tmp_path):
    task_id = create_task(console, png)
    for frame in (tmp_path / "data" / "frames").iterdir():
        frame.unlink()

    response = console.post(f"/tasks/{task_id}/new-seed")

    assert response.status_code == 422
    assert EN["errors.rerun_frame_missing"] in response.text
    assert len(sent_bodies(fake_upstream)) == 1


def test_an_upstream_refusal_is_shown_without_the_key(console, fake_upstream, png):
    task_id = create_task(console, png)
    fake_upstream.queue("create", status=400, body='{"error": "You do not have enough credits, ' + SECRET + '"}')

    response = console.post(f"/tasks/{task_id}/new-seed")

    assert response.status_code == 502
    assert "enough credits" in response.text and SECRET not in response.text


def test_unknown_and_external_tasks_cannot_be_rerun(console, fake_upstream):
    assert console.post("/tasks/nope-1/new-seed").status_code == 404
    fake_upstream.tasks["made-elsewhere"] = {"id": "made-elsewhere", "status": "RUNNING", "createdAt": "x"}
    console.get("/tasks/made-elsewhere")
    assert "new-seed" not in console.get("/tasks/made-elsewhere").text
    assert console.post("/tasks/made-elsewhere/new-seed").status_code == 422
    assert fake_upstream.calls("POST") == []


def test_new_seed_from_another_site_is_refused(console, fake_upstream, png):
    task_id = create_task(console, png)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        assert console.post(f"/tasks/{task_id}/new-seed", headers=headers).status_code == 403
    assert len(sent_bodies(fake_upstream)) == 1


def test_new_seed_counts_against_the_hourly_cap(open_console, fake_upstream, png):
    console = open_console(fake_upstream, CONSOLE_TASKS_PER_HOUR=1)
    console.get("/")  # a browser: its cookie tells it apart from a cookie-less script
    task_id = create_task(console, png)
    answer = console.post(f"/tasks/{task_id}/new-seed")
    assert answer.status_code == 429 and "You have started 1 tasks" in answer.text
    assert len(sent_bodies(fake_upstream)) == 1


def test_gallery_cards_offer_new_seed(console, fake_upstream, png):
    task_id = create_task(console, png)
    gallery = console.get("/tasks").text
    assert f'action="/tasks/{task_id}/new-seed"' in gallery
    assert console.post(f"/tasks/{task_id}/new-seed").status_code == 303
    assert len(sent_bodies(fake_upstream)) == 2
