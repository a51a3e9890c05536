"""From POST /tasks to a playable video, on the built-in simulator with default settings."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import httpx

from app.config import DEFAULT_PAGE_REFRESH_SECONDS as STATUS_REFRESH_SECONDS
from bench.stats import Row, latency_row

SECTION = "POST → video ready (defaults)"
FIELDS = {"promptText": "waves roll in", "model": "gen4_turbo", "ratio": "1280:720", "duration": "5"}
POLL_SECONDS = 0.1
TIMEOUT_SECONDS = 90.0


@dataclass
class Timeline:
    """Seconds from the start of the POST to each step a user would notice."""

    task_id: str
    redirected: float
    ready: float
    playable: float

    @property
    def tab_sees_it(self) -> float:
        """When a tab loaded right after the redirect sees the video: its fragment refreshes every few seconds."""
        waited = self.ready - self.redirected
        return self.redirected + math.ceil(waited / STATUS_REFRESH_SECONDS) * STATUS_REFRESH_SECONDS


def one_task(client: httpx.Client, first: bytes, last: bytes) -> Timeline:
    files = {"first_frame": ("first.jpg", first, "image/jpeg"), "last_frame": ("last.jpg", last, "image/jpeg")}
    start = time.perf_counter()
    response = client.post("/tasks", data=FIELDS, files=files)
    if response.status_code != 303:
        raise RuntimeError(f"POST /tasks answered {response.status_code}")
    redirected = time.perf_counter() - start
    task_path = response.headers["location"]
    # 286 is the fragment's "settled" answer; it only comes once the video is stored (or the task failed).
    while client.get(f"{task_path}/status", headers={"HX-Request": "true"}).status_code != 286:
        if time.perf_counter() - start > TIMEOUT_SECONDS:
            raise RuntimeError(f"{task_path} not ready after {TIMEOUT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)
    ready = time.perf_counter() - start
    video = client.get(f"{task_path}/video.mp4", headers={"Range": "bytes=0-65535"})
    if video.status_code != 206:
        raise RuntimeError(f"{task_path} settled without a video ({video.status_code})")
    return Timeline(task_path.rsplit("/", 1)[1], redirected, ready, time.perf_counter() - start)


def run(console_url: str, first: bytes, last: bytes, count: int) -> tuple[list[Row], list[str]]:
    with httpx.Client(base_url=console_url, timeout=60, follow_redirects=False) as client:
        timelines = [one_task(client, first, last) for _ in range(count)]
    note = "PENDING 1 s + RUNNING 6 s upstream, CONSOLE_POLL_INTERVAL 5 s, checked every 0.1 s"
    rows = [
        latency_row(SECTION, "POST → 303", [t.redirected for t in timelines], unit="s"),
        latency_row(SECTION, "POST → fragment says ready (286)", [t.ready for t in timelines], note, unit="s"),
        latency_row(SECTION, "POST → first 64 KiB of the mp4", [t.playable for t in timelines], unit="s"),
        latency_row(
            SECTION,
            f"POST → a tab (refresh {STATUS_REFRESH_SECONDS} s) shows it",
            [t.tab_sees_it for t in timelines],
            "estimate: first fragment refresh after ready",
            unit="s",
        ),
    ]
    return rows, [t.task_id for t in timelines]
