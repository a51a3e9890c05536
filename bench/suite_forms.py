"""POST /tasks as a browser sends it, against a console whose upstream is the simulator over HTTP."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from app.image_preparation import prepare_image
from bench.procs import CpuUsage, Server, cpu_usage
from bench.stats import Row, human_bytes, latency_row, median, ratio, ratio_row

SECTION = "form submit"
# The simulator checks the body fully (decodes every frame) but a prompt with this trigger
# never queues a render, whose CPU would otherwise bleed into the next samples on 2 cores.
PROMPT = "a calm lake at dawn [sim:moderation]"
FIELDS = {"promptText": PROMPT, "model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "seed": "42"}
UPSTREAM_HEADERS = {"Authorization": "Bearer bench", "X-Runway-Version": "2024-11-06"}


def post_form(client: httpx.Client, image: bytes, name: str, mime: str, **overrides: str) -> tuple[int, float]:
    files = {"first_frame": (name, image, mime)}
    start = time.perf_counter()
    response = client.post("/tasks", data=FIELDS | overrides, files=files)
    return response.status_code, time.perf_counter() - start


def sample_posts(
    client: httpx.Client, count: int, expected: int, image: bytes, name: str, mime: str, **overrides: str
) -> list[float]:
    samples = []
    for _ in range(count):
        status, seconds = post_form(client, image, name, mime, **overrides)
        if status != expected:
            raise RuntimeError(f"POST /tasks with {name} answered {status}, expected {expected}")
        samples.append(seconds)
    return samples


def upstream_create_seconds(simulator_url: str, image: bytes, count: int) -> tuple[list[float], int]:
    """The simulator's own create latency for the body the console would send (the upstream share)."""
    prepared = prepare_image(image)
    body = {
        "promptImage": [{"uri": prepared.data_uri(), "position": "first"}],
        "model": "gen4_turbo",
        "ratio": "1280:720",
        "duration": 5,
        "seed": 42,
        "promptText": PROMPT,
    }
    samples = []
    with httpx.Client(base_url=simulator_url, headers=UPSTREAM_HEADERS, timeout=60) as client:
        for _ in range(count):
            start = time.perf_counter()
            client.post("/v1/image_to_video", json=body).raise_for_status()
            samples.append(time.perf_counter() - start)
    return samples, len(prepared.data_uri())


@dataclass
class Posts:
    """Latency samples of each kind of form post, and the server CPU of the two valid kinds."""

    small: list[float]
    photo: list[float]
    invalid: list[float]
    invalid_photo: list[float]
    small_cpu: CpuUsage
    photo_cpu: CpuUsage


def measure_posts(console: Server, small: bytes, photo: bytes, counts: tuple[int, int, int]) -> Posts:
    """`counts` is (small, photo, invalid)."""
    n_small, n_photo, n_invalid = counts
    with httpx.Client(base_url=console.url, timeout=120, follow_redirects=False) as client:
        sample_posts(client, 3, 303, small, "small.png", "image/png")  # warm-up: templates, first connection
        with cpu_usage(console) as small_cpu:
            small_s = sample_posts(client, n_small, 303, small, "small.png", "image/png")
        with cpu_usage(console) as photo_cpu:
            photo_s = sample_posts(client, n_photo, 303, photo, "photo.jpg", "image/jpeg")
        invalid_s = sample_posts(client, n_invalid, 422, small, "small.png", "image/png", seed="4x2")
        # A typo in the seed still costs the full re-encode: frames are prepared before the fields are judged.
        invalid_photo_s = sample_posts(client, max(3, n_photo // 4), 422, photo, "photo.jpg", "image/jpeg", seed="4x2")
    return Posts(small_s, photo_s, invalid_s, invalid_photo_s, small_cpu, photo_cpu)


def run(
    console: Server,
    simulator_url: str,
    small: bytes,
    photo: bytes,
    counts: tuple[int, int, int],
    prepare_medians: tuple[float, float],
) -> list[Row]:
    """`prepare_medians` are the direct prepare_image times (small, photo), to show their share."""
    posts = measure_posts(console, small, photo, counts)
    upstream_small, small_uri = upstream_create_seconds(simulator_url, small, max(3, len(posts.small) // 3))
    upstream_photo, photo_uri = upstream_create_seconds(simulator_url, photo, max(3, len(posts.photo) // 3))
    small_note = (
        _shares(posts.small, prepare_medians[0], upstream_small) + "; " + posts.small_cpu.note(len(posts.small))
    )
    photo_note = (
        _shares(posts.photo, prepare_medians[1], upstream_photo) + "; " + posts.photo_cpu.note(len(posts.photo))
    )
    return [
        latency_row(SECTION, "(a) small 640×384 PNG → 303", posts.small, small_note),
        latency_row(SECTION, "(b) 12 MP noisy JPEG → 303", posts.photo, photo_note),
        latency_row(SECTION, "(c) bad seed, small PNG → 422", posts.invalid, "no upstream call; the frame is prepared"),
        latency_row(SECTION, "(c′) bad seed, 12 MP JPEG → 422", posts.invalid_photo, "the photo is re-encoded first"),
        latency_row(SECTION, "upstream create alone, small body", upstream_small, f"data URI {human_bytes(small_uri)}"),
        latency_row(SECTION, "upstream create alone, 12 MP body", upstream_photo, f"data URI {human_bytes(photo_uri)}"),
        ratio_row(SECTION, "12 MP / small submit latency", median(posts.photo), median(posts.small), "same run"),
    ]


def _shares(samples: list[float], prepare_seconds: float, upstream: list[float]) -> str:
    """What share of the median submit the two big steps take, each timed on its own in this run."""
    total = median(samples)
    return (
        f"prepare_image {ratio(prepare_seconds, total):.0%} of median, "
        f"upstream create {ratio(median(upstream), total):.0%}"
    )


def concurrent_burst(console_url: str, photo: bytes, uploads: int) -> float:
    """`uploads` 12 MP posts at once, as several users submitting together; returns wall seconds."""

    async def post(client: httpx.AsyncClient) -> None:
        files = {"first_frame": ("photo.jpg", photo, "image/jpeg")}
        response = await client.post("/tasks", data=FIELDS, files=files)
        if response.status_code != 303:
            raise RuntimeError(f"burst POST /tasks answered {response.status_code}")

    async def burst() -> float:
        async with httpx.AsyncClient(base_url=console_url, timeout=120) as client:
            start = time.perf_counter()
            await asyncio.gather(*(post(client) for _ in range(uploads)))
            return time.perf_counter() - start

    return asyncio.run(burst())
