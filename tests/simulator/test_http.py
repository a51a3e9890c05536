"""The HTTP layer: routes, keys, error shapes and odd requests, never a 500 or a traceback."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from app.catalogue import Catalogue
from app.simulator import SimulatorSettings, create_simulator_app
from app.simulator.triggers import NOT_ENOUGH_CREDITS, TRIGGERS
from tests.simulator.support import CATALOGUE, FIRST, KEY, LAST, Client, body, create, fetch, wait_for


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
    app = create_simulator_app(CATALOGUE, SimulatorSettings(), tmp_path / "sim")

    async def run_lifespan() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(run_lifespan())
    response = Client(app).post("/v1/image_to_video", json=body(), headers=KEY)
    assert response.status_code == 503
    assert "error" in response.json()


def test_root_says_it_is_a_simulator_and_lists_every_trigger(client):
    answer = client.get("/").json()
    assert answer["service"] == "runway-console simulator" and answer["simulated"] is True
    assert answer["models"] == ["tiny", "firstonly"]
    assert answer["triggers"] == [trigger.word for trigger in TRIGGERS]
    assert "[sim:moderation]" in answer["triggers"]


def test_credits_trigger_answers_in_the_plain_shape(client):
    response = client.post("/v1/image_to_video", json=body(promptText="go [sim:credits]"), headers=KEY)
    assert response.status_code == 400
    assert response.json() == {"error": "You do not have enough credits to run this task."}
    assert response.json()["error"] == NOT_ENOUGH_CREDITS


def test_a_catalogue_priced_in_another_currency_costs_zero_credits(make_client):
    # The SDK types estimatedCost as a number of credits; a USD price is not one.
    client = make_client(Catalogue(currency="USD", models=CATALOGUE.models))
    answer = client.post("/v1/image_to_video", json=body(), headers=KEY).json()
    assert answer["estimatedCost"] == {"credits": 0}


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
    wrong = client.post("/v1/image_to_video", json=body(), headers={**KEY, "Authorization": "Bearer wrong-secret-123"})
    assert wrong.status_code == 401
    assert "wrong-secret-123" not in wrong.text and "right-secret" not in wrong.text
    right = client.post("/v1/image_to_video", json=body(), headers={**KEY, "Authorization": "Bearer right-secret"})
    assert right.status_code == 200
    assert "right-secret" not in right.text
    task_id = right.json()["id"]
    for key, status in (("wrong", 401), ("right-secret", 200)):
        response = client.get(f"/v1/tasks/{task_id}", headers={**KEY, "Authorization": f"Bearer {key}"})
        assert response.status_code == status


def test_a_body_over_the_size_limit_is_refused_unread(client):
    response = client.post(
        "/v1/image_to_video", content=b"{}", headers={**KEY, "Content-Length": str(17 * 1024 * 1024)}
    )
    assert response.status_code == 413
    assert response.json() == {"error": "Request body is too large"}


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


def test_unknown_routes_answer_in_the_api_error_shape(client):
    missing = client.get("/v1/nothing", headers=KEY)
    assert missing.status_code == 404 and isinstance(missing.json()["error"], str)
    wrong_method = client.request("PUT", f"/v1/tasks/{uuid.uuid4()}", headers=KEY)
    assert wrong_method.status_code == 405 and isinstance(wrong_method.json()["error"], str)


def test_an_unknown_task_is_not_found(client):
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/v1/tasks/{uuid.uuid4()}", headers=KEY)
        assert response.status_code == 404
        assert response.json() == {"error": "Task not found"}


def test_a_task_is_found_only_by_its_exact_id(client):
    task_id = create(client, body(promptImage=[{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "last"}]))
    assert fetch(client, task_id)["id"] == task_id
    assert client.get(f"/v1/tasks/{task_id.upper()}", headers=KEY).status_code == 404


def test_a_cross_site_browser_request_gets_nothing(client):
    # A page elsewhere can make a browser send a form, but not an Authorization header or signed fields.
    site = {"Origin": "https://elsewhere.example", "Content-Type": "application/x-www-form-urlencoded"}
    for path in ("/v1/image_to_video", "/v1/uploads", "/runwayml/v1/uploads"):
        response = client.post(path, content=b"filename=a.png&type=ephemeral", headers=site)
        assert response.status_code == 401
        assert "access-control-allow-origin" not in response.headers
    upload = client.post("/uploads", files={"file": ("a.png", b"x")}, headers={"Origin": "https://elsewhere.example"})
    assert upload.status_code == 403 and "access-control-allow-origin" not in upload.headers
    assert client.get("/v1/organization", headers={"Origin": "https://elsewhere.example"}).status_code == 401


def test_the_organization_route_needs_the_key(make_client):
    client = make_client(api_secret="right")
    assert client.get("/v1/organization", headers=KEY).status_code == 401
    assert client.get("/v1/organization", headers={**KEY, "Authorization": "Bearer right"}).status_code == 200
