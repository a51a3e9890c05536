"""Helpers for driving the simulator over HTTP, the way the console drives the real API."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from typing import Any

import httpx
from PIL import Image
from starlette.applications import Starlette

from app.catalogue import Catalogue, ModelSpec

KEY = {"Authorization": "Bearer test-key", "X-Runway-Version": "2024-11-06"}
BASE = "http://sim"
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


def create(client: Client, payload: dict[str, object] | None = None) -> str:
    response = client.post("/v1/image_to_video", json=payload or body(), headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def fetch(client: Client, task_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/tasks/{task_id}", headers=KEY)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(client: Client, task_id: str, status: str) -> dict[str, Any]:
    """Poll until the render thread lets the task reach `status`; the fake clock stands still.

    The render is real work on a real thread, so this waits on that condition, bounded.
    """
    deadline = time.monotonic() + RENDER_WAIT_SECONDS
    while True:
        task = fetch(client, task_id)
        if task["status"] == status or time.monotonic() > deadline:
            assert task["status"] == status, task
            return task
        time.sleep(0.01)


def issue_paths(response: httpx.Response) -> list[list[object]]:
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["error"] == "Validation of body failed"
    assert answer["docUrl"].startswith("https://")
    for issue in answer["issues"]:
        assert issue["message"] and not issue["message"].startswith("errors."), issue
    return [issue["path"] for issue in answer["issues"]]
