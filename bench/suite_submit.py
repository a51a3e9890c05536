"""What the console adds to a submit: POST /tasks with a 3 MB PNG vs the same JSON posted to the upstream.

The upstream is `runway-console simulator` on its own. The JSON is the very body the console sent
(GET /tasks/{id}/request.json, frames as data URIs), so the ratio is form parsing, image checks,
storage and rendering the redirect, over the upstream's own create time.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from bench.fixtures import noise_png
from bench.procs import CpuUsage, Server, console_env, cpu_usage, lasting_simulator
from bench.stats import Row, human_bytes, latency_row, median, ratio_row
from bench.suite_forms import FIELDS, UPSTREAM_HEADERS

SECTION = "submit overhead"
IMAGE_SIZE = (1000, 1000)  # random pixels: a ~3 MB PNG, whose data URI (~4 MB) fits the 5 MB limit


def run(work: Path, count: int) -> list[Row]:
    image = noise_png(IMAGE_SIZE, seed=9)
    with lasting_simulator(work / "submit-sim") as simulator:
        with Server("serve", work / "submit", console_env(simulator.url, work / "submit" / "data")) as console:
            console_s, body, console_cpu = _console_posts(console, image, count)
        with cpu_usage(simulator) as direct_cpu:
            direct_s = _direct_posts(simulator.url, body, count)
    size = len(body["promptImage"][0]["uri"])
    return [
        latency_row(
            SECTION,
            f"POST /tasks, {human_bytes(len(image))} PNG → 303",
            console_s,
            f"console CPU {console_cpu.per_request_ms(len(console_s)):.0f} ms/req",
        ),
        latency_row(
            SECTION,
            "same JSON straight to the simulator → 200",
            direct_s,
            f"data URI {human_bytes(size)}; simulator CPU {direct_cpu.per_request_ms(len(direct_s)):.0f} ms/req",
        ),
        ratio_row(
            SECTION,
            "console submit ÷ direct upstream create",
            median(console_s),
            median(direct_s),
            "medians, same run; the console's POST includes the upstream create",
        ),
    ]


def _console_posts(console: Server, image: bytes, count: int) -> tuple[list[float], dict, CpuUsage]:
    files = {"first_frame": ("upload.png", image, "image/png")}
    samples: list[float] = []
    with httpx.Client(base_url=console.url, timeout=120, follow_redirects=False) as client:
        client.post("/tasks", data=FIELDS, files=files)  # warm-up
        with cpu_usage(console) as cpu:
            for _ in range(count):
                start = time.perf_counter()
                response = client.post("/tasks", data=FIELDS, files=files)
                samples.append(time.perf_counter() - start)
                if response.status_code != 303:
                    raise RuntimeError(f"POST /tasks answered {response.status_code}")
        body = client.get(response.headers["location"] + "/request.json").raise_for_status().json()
    return samples, body, cpu


def _direct_posts(simulator_url: str, body: dict, count: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=simulator_url, headers=UPSTREAM_HEADERS, timeout=120) as client:
        client.post("/v1/image_to_video", json=body).raise_for_status()  # warm-up
        for _ in range(count):
            start = time.perf_counter()
            client.post("/v1/image_to_video", json=body).raise_for_status()
            samples.append(time.perf_counter() - start)
    return samples
