"""Upstream economy: many unfinished tasks and many tabs must not multiply the console's upstream GETs.

`runway-console simulator` is the upstream and logs every request it gets; the console polls it.
First `tasks` unfinished tasks are created at once (they stay RUNNING for an hour and never
render), then `tabs` tabs poll one of them the way HTMX does (the captured request, every
STATUS_REFRESH_SECONDS, staggered) for the window. Counted from the simulator's own log:
GETs per task per poll interval (ideal: 1) and the largest number of upstream requests in one second.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter
from pathlib import Path

import httpx

from app.config import DEFAULT_PAGE_REFRESH_SECONDS as STATUS_REFRESH_SECONDS
from bench import capture_htmx
from bench.fixtures import small_png
from bench.procs import Server, console_env, lasting_simulator
from bench.stats import Row, median

SECTION = "upstream economy"
PROMPT = "economy [sim:output-moderation]"
FIELDS = {"promptText": PROMPT, "model": "gen4_turbo", "ratio": "1280:720", "duration": "5"}
CREATE_CONCURRENCY = 20
TASK_GET = re.compile(r'"GET /v1/tasks/([0-9a-f-]{36}) HTTP/1\.1"')


async def create_tasks(console_url: str, count: int) -> list[str]:
    image = small_png()
    gate = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(client: httpx.AsyncClient) -> str:
        async with gate:
            files = {"first_frame": ("f.png", image, "image/png")}
            response = await client.post("/tasks", data=FIELDS, files=files, headers={"Accept": "application/json"})
            response.raise_for_status()
            return response.json()["id"]

    async with httpx.AsyncClient(base_url=console_url, timeout=120) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(count))))


async def tabs_polling(console_url: str, task_id: str, tabs: int, seconds: float) -> Counter[int | str]:
    """`tabs` HTMX tabs on one task page, each asking every STATUS_REFRESH_SECONDS, staggered."""
    captured = capture_htmx.load()
    headers = capture_htmx.replay_headers(captured, console_url, task_id)
    statuses: Counter[int | str] = Counter()
    rng = random.Random(6)
    async with httpx.AsyncClient(base_url=console_url, timeout=60) as client:
        opened = capture_htmx.shown_version((await client.get(f"/tasks/{task_id}")).text)

    async def tab(client: httpx.AsyncClient) -> None:
        # Each tab sends the version its page shows and takes the next one from a 200, as htmx swaps it in.
        version = opened
        await asyncio.sleep(rng.uniform(0, STATUS_REFRESH_SECONDS))
        while time.monotonic() < stop_at:
            asked = time.monotonic()
            try:
                response = await client.get(capture_htmx.replay_path(captured, task_id, version), headers=headers)
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    version = capture_htmx.shown_version(response.text)
            except httpx.HTTPError as error:  # counted, not fatal: a stalled console is a finding
                statuses[type(error).__name__] += 1
            await asyncio.sleep(max(0.0, STATUS_REFRESH_SECONDS - (time.monotonic() - asked)))

    clients = [httpx.AsyncClient(base_url=console_url, timeout=STATUS_REFRESH_SECONDS * 5) for _ in range(tabs)]
    stop_at = time.monotonic() + seconds  # after the clients exist: making 50 of them takes a while
    try:
        await asyncio.gather(*(tab(client) for client in clients))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return statuses


# The console's default: with 200 tasks at a 5 s interval the cap, not the interval, sets each task's pace.
UPSTREAM_RPS = 10.0


def run(work: Path, tasks: int, tabs: int, seconds: float, interval: float, log) -> tuple[list[Row], dict]:
    with lasting_simulator(work / "economy-sim", capture=True) as simulator:
        env = console_env(
            simulator.url, work / "economy" / "data", CONSOLE_POLL_INTERVAL=interval, CONSOLE_UPSTREAM_RPS=UPSTREAM_RPS
        )
        with Server("serve", work / "economy", env) as console:
            created_at = time.monotonic()
            task_ids = asyncio.run(create_tasks(console.url, tasks))
            log(
                f"upstream economy: {tasks} tasks created in {time.monotonic() - created_at:.1f} s; "
                f"{tabs} tabs for {seconds:g} s"
            )
            # One interval to let the poller settle on all of them before counting.
            time.sleep(interval)
            start = time.monotonic()
            statuses = asyncio.run(tabs_polling(console.url, task_ids[0], tabs, seconds))
            end = time.monotonic()
        lines = [(t, line) for t, line in simulator.lines if start <= t <= end]
    return summarize(task_ids, lines, start, end, interval, tabs, statuses)


def summarize(
    task_ids: list[str],
    lines: list[tuple[float, str]],
    start: float,
    end: float,
    interval: float,
    tabs: int,
    statuses: Counter[int | str],
) -> tuple[list[Row], dict]:
    window = end - start
    intervals = window / interval
    per_task: Counter[str] = Counter()
    per_second: Counter[int] = Counter()
    for t, line in lines:
        if ' HTTP/1.1" ' not in line:
            continue
        per_second[int(t - start)] += 1
        match = TASK_GET.search(line)
        if match:
            per_task[match.group(1)] += 1
    rates = [per_task[task] / intervals for task in task_ids]
    watched = task_ids[0]
    burst = max(per_second.values(), default=0)
    total = sum(per_second.values())
    seconds_series = [float(per_second[s]) for s in range(int(window) + 1)]
    answered = ", ".join(f"{n}× {code}" for code, n in sorted(statuses.items(), key=str)) or "no answer"
    rows = [
        Row(
            SECTION,
            f"upstream GETs per task per poll interval, {len(task_ids)} tasks",
            median(rates),
            "per interval",
            n=len(task_ids),
            note=f"min {min(rates):.2f}, max {max(rates):.2f}; {sum(per_task.values())} task GETs in {window:.0f} s "
            f"at interval {interval:g} s; tasks never polled: {sum(1 for r in rates if r == 0)}",
            samples=rates,
        ),
        Row(
            SECTION,
            f"same, the task {tabs} tabs watch",
            per_task[watched] / intervals,
            "per interval",
            n=per_task[watched],
            note=f"tabs asked every {STATUS_REFRESH_SECONDS} s: {answered}",
        ),
        Row(
            SECTION,
            "max upstream requests in one second",
            burst,
            "req/s",
            n=total,
            note=f"mean {total / window:.1f}/s; CONSOLE_UPSTREAM_RPS={UPSTREAM_RPS:g} (the cap); one GET per task "
            f"per interval would need {len(task_ids) / interval:.0f}/s",
            samples=seconds_series,
        ),
    ]
    raw = {
        "per_task_gets": dict(per_task),
        "per_second": seconds_series,
        "tab_statuses": {str(k): v for k, v in statuses.items()},
    }
    return rows, raw
