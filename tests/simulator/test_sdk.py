"""The official `runwayml` SDK against the standalone simulator, served by uvicorn on loopback.

Each test builds the simulator app as `runway-console simulator` does (the default catalogue, its
settings), with a fake clock where the test walks a task through its statuses, and an offline
stand-in for the network where an image is given by an https URL: tests reach only loopback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from runwayml import BadRequestError, RateLimitError, RunwayML, TaskFailedError
from runwayml.types.task_retrieve_response import Cancelled, Failed, Pending, Running, Succeeded, Throttled
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.catalogue import Catalogue, load_catalogue
from app.simulator import SimulatorSettings, create_simulator_app
from app.simulator.tasks import Simulator
from tests.helpers import LiveServer, sdk_client, wait_until
from tests.simulator.support import FIRST, LAST, FakeClock

VERSION = {"X-Runway-Version": "2024-11-06"}


def offline(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("offline: the tests reach nothing but loopback", request=request)


class Sim:
    """A running standalone simulator and the handles a test needs."""

    def __init__(self, server: LiveServer, app: Starlette) -> None:
        self.server = server
        self.url = server.url
        self.simulator: Simulator = app.state.simulator

    def client(self, base_url: str | None = None, **options: Any) -> RunwayML:
        return sdk_client("any-key", base_url or self.url, **options)


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[Callable[..., Sim]]:
    servers: list[LiveServer] = []

    def start(
        *,
        clock: FakeClock | None = None,
        wall: FakeClock | None = None,
        catalogue: Catalogue | None = None,
        **settings: Any,
    ) -> Sim:
        values = {"pending_seconds": 0.05, "running_seconds": 0.2, "video_max_side": 96, **settings}
        timing: dict[str, Any] = {}
        if clock is not None:
            timing["clock"] = clock
        if wall is not None:
            timing["wall"] = wall
        app = create_simulator_app(
            catalogue or load_catalogue(),
            SimulatorSettings(**values),
            tmp_path / f"sim{len(servers)}",
            image_transport=httpx.MockTransport(offline),
            **timing,
        )
        server = LiveServer(app).start()
        servers.append(server)
        return Sim(server, app)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK waits 6 ± 1.5 s between polls and offers no setting for it; what is under test is the
    # simulator's answers, not the SDK's pacing.
    monkeypatch.setattr("runwayml.lib.polling.POLL_TIME", 0.05)
    monkeypatch.setattr("runwayml.lib.polling.POLL_JITTER", 0)


def png_file(path: Path, size: tuple[int, int] = (160, 90), colour: str = "orange") -> Path:
    Image.new("RGB", size, colour).save(path, "PNG")
    return path


def retrieve_until(client: RunwayML, task_id: str, kind: type) -> Any:
    """Retrieve until the SDK types the task as `kind` (a render runs on a real thread)."""
    seen: list[Any] = []

    def reached() -> bool:
        seen.append(client.tasks.retrieve(task_id))
        return isinstance(seen[-1], kind)

    wait_until(reached)
    return seen[-1]


def test_every_status_is_typed_as_its_sdk_class(start_sim):
    clock = FakeClock(1000.0)
    sim = start_sim(clock=clock, pending_seconds=1.0, running_seconds=2.0, concurrency=1)
    client = sim.client()
    first = client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    second = client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=10)

    pending = client.tasks.retrieve(first.id)
    assert isinstance(pending, Pending)
    assert pending.estimated_cost.credits == 25

    clock.advance(1.0)
    running = client.tasks.retrieve(first.id)
    assert isinstance(running, Running)
    assert 0 <= running.progress < 1 and running.estimated_cost.credits == 25
    throttled = client.tasks.retrieve(second.id)
    assert isinstance(throttled, Throttled)
    assert throttled.estimated_cost.credits == 50

    clock.advance(2.0)
    succeeded = retrieve_until(client, first.id, Succeeded)
    assert succeeded.cost.credits == 25
    assert succeeded.output[0].startswith(f"{sim.url}/outputs/{first.id}.mp4?")

    assert isinstance(client.tasks.retrieve(second.id), Running)
    client.tasks.delete(second.id)
    cancelled = client.tasks.retrieve(second.id)
    assert isinstance(cancelled, Cancelled)
    assert cancelled.cost.credits == 0

    refused = client.image_to_video.create(
        model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5, prompt_text="[sim:moderation]"
    )
    clock.advance(1.0)
    failed = client.tasks.retrieve(refused.id)
    assert isinstance(failed, Failed)
    assert failed.failure_code == "INPUT_PREPROCESSING.SAFETY.TEXT" and failed.failure
    assert failed.cost.credits == 0


def test_wait_for_task_output_through_a_relay_style_base_url(start_sim, quick_polls):
    sim = start_sim()
    client = sim.client(base_url=f"{sim.url}/runwayml")
    created = client.image_to_video.create(
        model="gen4_turbo",
        prompt_image=[{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "last"}],
        ratio="960:960",
        duration=5,
        prompt_text="red to blue",
        seed=7,
    )
    task = created.wait_for_task_output(timeout=30)
    assert isinstance(task, Succeeded)
    assert task.output[0].startswith(f"{sim.url}/runwayml/outputs/")
    video = httpx.get(task.output[0])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"


def test_the_sdk_readme_example_without_duration_is_accepted_and_its_url_image_fails_at_render(start_sim, quick_polls):
    # The clock stands still until the task has been seen PENDING, so the check cannot race the render.
    clock = FakeClock(1000.0)
    client = start_sim(clock=clock).client()
    # Verbatim from the runwayml README: no duration (the default catalogue gives gen4_turbo 5 s).
    image_to_video = client.image_to_video.create(
        model="gen4_turbo",
        prompt_image="https://example.com/assets/bunny.jpg",
        ratio="1280:720",
        prompt_text="The bunny is eating a carrot",
    )
    pending = client.tasks.retrieve(image_to_video.id)
    assert isinstance(pending, Pending)
    assert pending.estimated_cost.credits == 25
    clock.advance(60)
    with pytest.raises(TaskFailedError) as caught:
        image_to_video.wait_for_task_output(timeout=30)
    failed = caught.value.task_details
    assert isinstance(failed, Failed)
    assert failed.failure_code == "ASSET.INVALID" and "promptImage" in failed.failure


def test_a_model_without_a_default_still_needs_a_duration(start_sim):
    client = start_sim().client(max_retries=0)
    with pytest.raises(BadRequestError) as caught:
        client.image_to_video.create(model="gen3a_turbo", prompt_image=FIRST, ratio="1280:768")  # type: ignore[call-overload]
    assert caught.value.body["issues"] == [{"path": ["duration"], "message": "Required"}]  # type: ignore[index]


def test_an_upload_uri_works_as_a_prompt_image(start_sim, quick_polls, tmp_path):
    sim = start_sim()
    client = sim.client()
    uploaded = client.uploads.create_ephemeral(file=png_file(tmp_path / "photo.png"))
    assert uploaded.uri.startswith("runway://")
    task = client.image_to_video.create(
        model="gen4_turbo", prompt_image=uploaded.uri, ratio="1280:720", duration=5
    ).wait_for_task_output(timeout=30)
    assert isinstance(task, Succeeded)


def test_an_upload_uri_expires_after_a_day_on_the_simulator_clock(start_sim, tmp_path):
    wall = FakeClock(1_800_000_000.0)
    client = start_sim(wall=wall).client(max_retries=0)
    uri = client.uploads.create_ephemeral(file=png_file(tmp_path / "a.png")).uri
    wall.advance(86_399)
    client.image_to_video.create(model="gen4_turbo", prompt_image=uri, ratio="1280:720", duration=5)
    wall.advance(2)
    with pytest.raises(BadRequestError) as caught:
        client.image_to_video.create(model="gen4_turbo", prompt_image=uri, ratio="1280:720", duration=5)
    assert [issue["path"] for issue in caught.value.body["issues"]] == [["promptImage"]]  # type: ignore[index]


def test_the_upload_url_takes_only_the_slot_it_was_signed_for_within_its_size(start_sim):
    sim = start_sim(upload_max_mb=0.01)
    started = httpx.post(
        f"{sim.url}/v1/uploads",
        json={"filename": "a.png", "type": "ephemeral"},
        headers={"Authorization": "Bearer k", **VERSION},
    ).json()
    assert set(started) == {"uploadUrl", "fields", "runwayUri"}
    url, fields = started["uploadUrl"], started["fields"]
    forged = httpx.post(url, data={**fields, "signature": "0" * 64}, files={"file": ("a.png", b"x")})
    assert forged.status_code == 403 and b"AccessDenied" in forged.content
    too_big = httpx.post(url, data=fields, files={"file": ("a.png", b"x" * 20_000)})
    assert too_big.status_code == 400 and b"EntityTooLarge" in too_big.content
    no_file = httpx.post(url, data=fields)
    assert no_file.status_code == 400
    assert httpx.post(url, data=fields, files={"file": ("a.png", b"x" * 100)}).status_code == 204
    assert httpx.post(url, data=fields, files={"file": ("a.png", b"x")}).status_code == 403  # used once


def test_upload_requests_are_checked_like_the_api(start_sim):
    sim = start_sim()
    headers = {"Authorization": "Bearer k", **VERSION}
    assert httpx.post(f"{sim.url}/v1/uploads", json={"filename": "a.png", "type": "ephemeral"}).status_code == 401
    wrong = httpx.post(f"{sim.url}/v1/uploads", json={"filename": "../a", "type": "permanent"}, headers=headers)
    assert wrong.status_code == 400
    assert [issue["path"] for issue in wrong.json()["issues"]] == [["filename"], ["type"]]


def test_the_organization_reports_balance_limits_and_usage(start_sim):
    clock = FakeClock(1000.0)
    sim = start_sim(clock=clock, credits=100, daily_limit=3, concurrency=2)
    client = sim.client(max_retries=0)
    org = client.organization.retrieve()
    assert org.credit_balance == 100
    assert org.tier.max_monthly_credit_spend == SimulatorSettings().monthly_credit_spend
    assert org.tier.models["gen4_turbo"].max_concurrent_generations == 2
    assert org.tier.models["gen4_turbo"].max_daily_generations == 3
    assert org.usage.models["gen4_turbo"].daily_generations == 0

    client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=10)
    refunded = client.image_to_video.create(
        model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5, prompt_text="[sim:asset]"
    )
    org = client.organization.retrieve()
    assert org.credit_balance == 100 - 50 - 25
    assert org.usage.models["gen4_turbo"].daily_generations == 2
    assert org.usage.models["gen3a_turbo"].daily_generations == 0

    clock.advance(1.0)
    assert isinstance(client.tasks.retrieve(refunded.id), Failed)
    assert client.organization.retrieve().credit_balance == 100 - 50

    client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    with pytest.raises(RateLimitError) as caught:
        client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    assert "gen4_turbo" in caught.value.body["error"]  # type: ignore[index]
    # The limit is per model.
    client.image_to_video.create(  # type: ignore[call-overload]
        model="gen3a_turbo", prompt_image=FIRST, ratio="1280:768", duration=5
    )


@pytest.mark.parametrize("credits", [0, 30])
def test_an_empty_or_short_balance_gives_the_credits_error(start_sim, credits):
    client = start_sim(credits=credits).client(max_retries=0)
    if credits:
        client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    with pytest.raises(BadRequestError) as caught:
        client.image_to_video.create(model="gen4_turbo", prompt_image=FIRST, ratio="1280:720", duration=5)
    assert caught.value.body == {"error": "You do not have enough credits to run this task."}


def test_a_bad_request_is_a_bad_request_error_with_issues_in_the_apis_words(start_sim):
    client = start_sim().client(max_retries=0)
    with pytest.raises(BadRequestError) as caught:
        client.image_to_video.create(model="gen4_turbo", prompt_image="", ratio="1280:768", duration=7)  # type: ignore[arg-type]
    body = caught.value.body
    assert isinstance(body, dict) and body["error"] == "Validation of body failed"
    assert body["docUrl"].startswith("https://docs.dev.runwayml.com")
    assert [issue["path"] for issue in body["issues"]] == [["promptImage"], ["ratio"], ["duration"]]
    for phrase in ("upload an image", "leave blank", "or blank", "Crop it"):
        assert phrase not in json.dumps(body)


def record_hooks() -> tuple[LiveServer, list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(json.loads(await request.body()))
        return Response(status_code=204)

    return LiveServer(Starlette(routes=[Route("/hook", hook, methods=["POST"])])).start(), received


def test_notify_hook_gets_the_final_document_when_private_hooks_are_allowed(start_sim):
    listener, received = record_hooks()
    try:
        sim = start_sim(allow_private_hooks=True)
        client = sim.client()
        created = client.image_to_video.create(
            model="gen4_turbo",
            prompt_image=FIRST,
            ratio="1280:720",
            duration=5,
            extra_body={"notify_hook": f"{listener.url}/hook"},
        )
        wait_until(lambda: received)
        document = received[0]
        assert document["id"] == created.id and document["status"] == "SUCCEEDED"
        assert document["cost"] == {"credits": 25}
        assert isinstance(client.tasks.retrieve(created.id), Succeeded)
        # The listener may answer before the notifier has written its log entry.
        wait_until(lambda: sim.simulator.notifier.log)
        assert sim.simulator.notifier.log[0].delivered
        assert len(received) == 1
    finally:
        listener.stop()


def test_notify_hook_is_never_sent_to_a_loopback_address_by_default(start_sim):
    listener, received = record_hooks()
    try:
        sim = start_sim()
        created = sim.client().image_to_video.create(
            model="gen4_turbo",
            prompt_image=FIRST,
            ratio="1280:720",
            duration=5,
            extra_body={"notify_hook": f"{listener.url}/hook"},
        )
        # Nobody polls: the simulator's own watcher settles the task and tries the hook.
        wait_until(lambda: sim.simulator.notifier.log)
        delivery = sim.simulator.notifier.log[0]
        assert delivery.task_id == created.id and not delivery.delivered
        assert delivery.attempts == 1 and "loopback" in (delivery.error or "")
        assert received == []
    finally:
        listener.stop()


def test_the_version_header_is_required_and_checked(start_sim):
    sim = start_sim()
    key = {"Authorization": "Bearer k"}
    for path in ("/v1/organization", f"/v1/tasks/{'0' * 8}-0000-4000-8000-{'0' * 12}"):
        missing = httpx.get(f"{sim.url}{path}", headers=key)
        assert missing.status_code == 400 and "X-Runway-Version" in missing.json()["error"]
        unknown = httpx.get(f"{sim.url}{path}", headers={**key, "X-Runway-Version": "2099-01-01"})
        assert unknown.status_code == 400 and "X-Runway-Version" in unknown.json()["error"]
    assert httpx.get(f"{sim.url}/v1/organization", headers={**key, **VERSION}).status_code == 200
    # A relay supplies the version itself; its base URL takes requests without one, not a wrong one.
    assert httpx.get(f"{sim.url}/runwayml/v1/organization", headers=key).status_code == 200
    wrong = httpx.get(f"{sim.url}/runwayml/v1/organization", headers={**key, "X-Runway-Version": "1"})
    assert wrong.status_code == 400


# The relay vendor doc's examples, verbatim (shared/reference/000_81dd73ae5e9565c8.txt).
VENDOR_CREATE_960 = """{
    "promptImage": [
        {"uri":"https://www.openai-hk.com/res/img/open.png","position":"first"},
        {"uri":"https://www.openai-hk.com/res/img/open.png","position":"last"}
    ],
    "seed": 4294967295,
    "model": "gen4_turbo",
    "promptText": "wave",
    "watermark": false,
    "duration": 5,
    "ratio": "960:960"
  }"""
VENDOR_BODY_1280_768 = """{
  "promptImage": [
    {
      "uri": "https://www.openai-hk.com/res/img/open.png",
      "position": "first"
    },
    { "uri": "https://www.openai-hk.com/res/img/open.png", "position": "last" }
  ],
  "seed": 4294967295,
  "model": "gen4_turbo",
  "promptText": "wave",
  "watermark": false,
  "duration": 5,
  "ratio": "1280:768"
}"""


def test_the_vendor_docs_curl_examples_against_the_simulator(start_sim):
    sim = start_sim()
    base = f"{sim.url}/runwayml"
    # curl --header 'Authorization: Bearer hk-your-key' --header 'Content-Type: application/json'
    headers = {"Authorization": "Bearer hk-your-key", "Content-Type": "application/json"}
    created = httpx.post(f"{base}/v1/image_to_video", content=VENDOR_CREATE_960, headers=headers)
    assert created.status_code == 200
    task_id = created.json()["id"]

    def settled() -> bool:
        task = httpx.get(f"{base}/v1/tasks/{task_id}", headers=headers).json()
        return task["status"] in ("SUCCEEDED", "FAILED")

    wait_until(settled)
    task = httpx.get(f"{base}/v1/tasks/{task_id}", headers=headers).json()
    # The simulator cannot fetch the vendor's image offline: the upstream's answer to that.
    assert task["status"] == "FAILED" and task["failureCode"] == "ASSET.INVALID"
    assert set(task) == {"id", "status", "createdAt", "failure", "failureCode", "cost"}

    # The doc's second body pairs gen4_turbo with gen3a_turbo's ratio: refused, at the ratio.
    refused = httpx.post(f"{base}/v1/image_to_video", content=VENDOR_BODY_1280_768, headers=headers)
    assert refused.status_code == 400
    assert [issue["path"] for issue in refused.json()["issues"]] == [["ratio"]]


def test_optional_fields_are_refused_where_the_catalogue_says_the_upstream_takes_none(start_sim):
    relay = load_catalogue().model_dump()
    official = Catalogue.model_validate(
        {**relay, "optional_fields": [], "models": [{**m, "optional_fields": []} for m in relay["models"]]}
    )
    client = start_sim(catalogue=official).client(max_retries=0)
    with pytest.raises(BadRequestError) as caught:
        client.image_to_video.create(
            model="gen4_turbo",
            prompt_image=FIRST,
            ratio="1280:720",
            duration=5,
            extra_body={"watermark": False, "notify_hook": "https://hooks.example.com/x"},
        )
    assert [issue["path"] for issue in caught.value.body["issues"]] == [["watermark"], ["notify_hook"]]  # type: ignore[index]
