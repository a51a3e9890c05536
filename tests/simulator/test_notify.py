"""notify_hook delivery: bounded retries on failures worth retrying, none on refusals or answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.simulator.notify import ATTEMPTS, Delivery, Notifier
from tests.helpers import LiveServer

DOCUMENT = {"id": "5d0e1f4c-3c41-4a55-9a1e-2f3e4b5c6d7e", "status": "SUCCEEDED", "cost": {"credits": 25}}


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[str, dict[str, list[Any]]]]:
    """A loopback listener: /ok takes the call, /flaky fails twice first, /gone always 410, /down 503."""
    calls: dict[str, list[Any]] = {"ok": [], "flaky": [], "gone": [], "down": []}

    async def hook(request: Request) -> Response:
        name = request.path_params["name"]
        calls[name].append(json.loads(await request.body()))
        if name == "flaky" and len(calls[name]) < ATTEMPTS:
            return Response(status_code=502)
        return Response(status_code={"ok": 204, "flaky": 200, "gone": 410, "down": 503}[name])

    server = LiveServer(Starlette(routes=[Route("/{name}", hook, methods=["POST"])])).start()
    yield server.url, calls
    server.stop()


def deliver(url: str, *, allow_private: bool = True) -> Delivery:
    """Run one notifier round on its own event loop until its delivery is logged."""
    pending = [(url, DOCUMENT)]

    def collect() -> list[tuple[str, dict[str, Any]]]:
        ready = list(pending)
        pending.clear()
        return ready

    async def run() -> Delivery:
        notifier = Notifier(collect, lambda: False, allow_private=allow_private, backoff=0.01, timeout=2)
        notifier.wake()
        async with asyncio.timeout(20):
            while not notifier.log:
                await asyncio.sleep(0.01)
        await notifier.aclose()
        return notifier.log[0]

    return asyncio.run(run())


def test_a_hook_gets_the_document_once(hooks):
    url, calls = hooks
    delivery = deliver(f"{url}/ok")
    assert delivery.delivered and delivery.attempts == 1 and delivery.status == 204
    assert calls["ok"] == [DOCUMENT]


def test_a_failing_hook_is_retried_until_it_answers(hooks):
    url, calls = hooks
    delivery = deliver(f"{url}/flaky")
    assert delivery.delivered and delivery.attempts == ATTEMPTS
    assert len(calls["flaky"]) == ATTEMPTS


def test_retries_are_bounded(hooks):
    url, calls = hooks
    delivery = deliver(f"{url}/down")
    assert not delivery.delivered and delivery.attempts == ATTEMPTS and delivery.status == 503
    assert len(calls["down"]) == ATTEMPTS


def test_a_hook_that_answers_4xx_is_not_retried(hooks):
    url, calls = hooks
    delivery = deliver(f"{url}/gone")
    assert delivery.attempts == 1 and delivery.status == 410 and len(calls["gone"]) == 1


def test_a_private_hook_is_refused_before_any_packet_and_not_retried(hooks):
    url, calls = hooks
    before = len(calls["ok"])
    delivery = deliver(f"{url}/ok", allow_private=False)
    assert not delivery.delivered and delivery.status is None and delivery.attempts == 1
    assert "loopback" in (delivery.error or "")
    assert len(calls["ok"]) == before
