"""The gallery (GET /tasks) over a data dir seeded with many tasks, against a trivial request of the same server.

The data dir is written through the console's own store before the server starts: tasks of every
status and both default models, prompts from a small vocabulary, stored first frames and posters, a
few weeks of history. What is timed is the whole answer as a browser gets it (query, 24 cards,
totals, template), one request at a time, so the figure is the page's own cost.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import httpx

from app.gallery import PAGE_SIZE
from app.storage import SqliteTaskStore
from app.tasks import TaskOrigin, TaskRecord, TaskStatus, stored_frame
from app.timestamps import utc_iso
from bench.fixtures import small_png
from bench.procs import CpuUsage, Server, cpu_usage
from bench.stats import Row, latency_row, ratio_row

SECTION = "gallery"
WORDS = ("waves", "cat", "city", "night", "forest", "camera pans", "slow zoom", "sunrise", "rain", "dancer")
STATUS_WEIGHTS = (
    (TaskStatus.SUCCEEDED, 70),
    (TaskStatus.FAILED, 12),
    (TaskStatus.CANCELLED, 6),
    (TaskStatus.RUNNING, 6),
    (TaskStatus.PENDING, 6),
)
START = 1_790_000_000.0


def seed(data_dir: Path, count: int, rng: random.Random) -> list[str]:
    """Write `count` tasks (and their frames and posters) into a fresh data dir; returns the active ids."""
    frames = data_dir / "frames"
    videos = data_dir / "videos"
    frames.mkdir(parents=True, exist_ok=True)
    videos.mkdir(parents=True, exist_ok=True)
    refs = []
    for number in range(8):
        ref = f"{number:064x}.png"
        (frames / ref).write_bytes(small_png(color=(30 * number, 90, 200)))
        refs.append(ref)
    store = SqliteTaskStore(data_dir / "console.db")
    statuses, weights = zip(*STATUS_WEIGHTS, strict=True)
    active: list[str] = []
    try:
        for number in range(count):
            at = START + number * 1800.0
            status = rng.choices(statuses, weights)[0]
            task_id = f"bench-{number:05d}"
            done = status == TaskStatus.SUCCEEDED
            model = rng.choice(("gen4_turbo", "gen3a_turbo"))
            if done:
                (videos / f"{task_id}.poster.jpg").write_bytes(b"\xff\xd8\xff\xe0 poster")
            if status in (TaskStatus.RUNNING, TaskStatus.PENDING):
                active.append(task_id)
            store.insert(
                TaskRecord(
                    id=task_id,
                    origin=TaskOrigin.CONSOLE,
                    created_at=utc_iso(at),
                    submitted_at=at,
                    updated_at=at,
                    status=status,
                    model=model,
                    ratio="1280:720" if model == "gen4_turbo" else "1280:768",
                    duration=rng.choice((5, 10)),
                    seed=rng.randrange(2**32),
                    prompt=" ".join(rng.sample(WORDS, 3)) + f" #{number}",
                    first_frame=stored_frame(rng.choice(refs)),
                    estimated_cost=25.0,
                    cost=25.0 if done else (0.0 if status in (TaskStatus.FAILED, TaskStatus.CANCELLED) else None),
                    progress=0.4 if status == TaskStatus.RUNNING else None,
                    video_file=f"{task_id}.mp4" if done else None,
                    video_bytes=2_000_000 if done else None,
                    poster_file=f"{task_id}.poster.jpg" if done else None,
                    finished_at=at + 40 if status not in (TaskStatus.RUNNING, TaskStatus.PENDING) else None,
                    # Far in the future: the server's poller leaves the seeded tasks alone while we measure.
                    next_poll_at=4e9,
                )
            )
    finally:
        store.close()
    return active


def sample(client: httpx.Client, server: Server, path: str, count: int) -> tuple[list[float], CpuUsage]:
    """Wall-clock times of `count` GETs one after another, and the server CPU they cost."""
    client.get(path)  # warm-up: template compilation, first query plan
    times = []
    with cpu_usage(server) as usage:
        for _ in range(count):
            start = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - start)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}")
    return times, usage


def run(work: Path, sizes: tuple[int, ...], samples: int) -> list[Row]:
    rows: list[Row] = []
    rng = random.Random(8)
    for size in sizes:
        folder = work / f"gallery-{size}"
        active = seed(folder / "data", size, rng)
        last_page = -(-size // PAGE_SIZE)
        with Server("serve", folder, {"CONSOLE_DATA_DIR": folder / "data"}) as console:
            with httpx.Client(base_url=console.url, timeout=30.0) as client:
                trivial, trivial_cpu = sample(client, console, "/healthz", samples)
                first_cpu = None
                for label, path in (
                    (f"{size} tasks: first page (24 cards, totals)", "/tasks"),
                    (f"{size} tasks: last page (page {last_page})", f"/tasks?page={last_page}"),
                    (f"{size} tasks: search in prompts", "/tasks?q=waves"),
                    (f"{size} tasks: status and model filter", "/tasks?status=succeeded&model=gen4_turbo"),
                    (
                        f"{size} tasks: live update of {min(len(active), 24)} unfinished cards",
                        "/gallery/live?ids=" + ",".join(active[:24]) + "&since=0",
                    ),
                ):
                    times, usage = sample(client, console, path, samples)
                    first_cpu = first_cpu or usage
                    rows.append(latency_row(SECTION, label, times, usage.note(samples)))
                rows.append(
                    latency_row(SECTION, f"{size} tasks: GET /healthz, for scale", trivial, trivial_cpu.note(samples))
                )
                assert first_cpu is not None
                rows.append(
                    ratio_row(
                        SECTION,
                        f"{size} tasks: first page ÷ /healthz, server CPU per request",
                        first_cpu.per_request_ms(samples),
                        trivial_cpu.per_request_ms(samples),
                        "same server, same run",
                    )
                )
    return rows


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as scratch:
        for row in run(Path(scratch), (500,), 20):
            print(f"{row.metric}: {row.value:.2f} {row.unit}" + (f" (p95 {row.p95:.2f})" if row.p95 else ""), row.note)
