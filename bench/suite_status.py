"""Many tabs polling GET /tasks/{id}/status, and the upstream GETs that load causes (or must not)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from app.config import DEFAULT_PAGE_REFRESH_SECONDS as STATUS_REFRESH_SECONDS
from bench.procs import CpuUsage, Server, cpu_usage
from bench.stats import Row, latency_row, ratio, ratio_row

SECTION = "status fragment"
# PENDING 0 s and RUNNING for an hour (set on the simulator) keep this task active all run;
# the trigger fails it only at the end of RUNNING, so no video is rendered meanwhile.
PROMPT = "status load [sim:output-moderation]"
HTMX_HEADERS = {"HX-Request": "true"}
READY_TIMEOUT_SECONDS = 30.0


@dataclass
class LoadResult:
    tabs: int
    latencies: list[float]
    errors: int
    start: float
    end: float
    cpu: CpuUsage = field(default_factory=CpuUsage)

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds


def create_active_task(console_url: str, image: bytes, timeout: float = READY_TIMEOUT_SECONDS) -> str:
    """A task the console keeps polling: submitted, then seen RUNNING at least once."""
    fields = {"promptText": PROMPT, "model": "gen4_turbo", "ratio": "1280:720", "duration": "5"}
    with httpx.Client(base_url=console_url, timeout=60, headers={"Accept": "application/json"}) as client:
        response = client.post("/tasks", data=fields, files={"first_frame": ("f.png", image, "image/png")})
        response.raise_for_status()
        task_id = response.json()["id"]
        deadline = time.monotonic() + timeout
        while client.get(f"/tasks/{task_id}").json()["status"] != "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError("the status task never reached RUNNING")
            time.sleep(0.2)
    return task_id


async def _tab(client: httpx.AsyncClient, path: str, stop_at: float, result: LoadResult) -> None:
    # Closed loop, no think time: a browser tab asks every 2 s, so N busy tabs here stand for far more.
    while time.monotonic() < stop_at:
        start = time.perf_counter()
        response = await client.get(path, headers=HTMX_HEADERS)
        elapsed = time.perf_counter() - start
        if response.status_code == 200:
            result.latencies.append(elapsed)
        else:
            result.errors += 1


async def _load(console_url: str, path: str, tabs: int, seconds: float) -> LoadResult:
    # One client (one connection) per tab, opened before the clock starts, as a loaded tab would be.
    clients = [httpx.AsyncClient(base_url=console_url, timeout=60) for _ in range(tabs)]
    try:
        await asyncio.gather(*(client.get(path) for client in clients))
        start = time.monotonic()
        result = LoadResult(tabs, [], 0, start, start)
        await asyncio.gather(*(_tab(client, path, start + seconds, result) for client in clients))
        result.end = time.monotonic()
        return result
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def task_page_latency(console_url: str, task_id: str, count: int) -> list[float]:
    samples = []
    with httpx.Client(base_url=console_url, timeout=30) as client:
        client.get(f"/tasks/{task_id}")
        for _ in range(count):
            start = time.perf_counter()
            client.get(f"/tasks/{task_id}").raise_for_status()
            samples.append(time.perf_counter() - start)
    return samples


def upstream_row(simulator: Server, task_id: str, load: LoadResult, interval: float) -> Row:
    """GETs of this task the simulator logged during the load, per CONSOLE_POLL_INTERVAL."""
    gets = simulator.lines_matching(f"GET /v1/tasks/{task_id} ", load.start, load.end)
    every = simulator.lines_matching(' HTTP/1.1" ', load.start, load.end)
    gaps = [b - a for a, b in zip(gets, gets[1:], strict=False)]
    smallest = f"{min(gaps):.2f} s" if gaps else "n/a"
    return Row(
        SECTION,
        f"upstream GETs per poll interval, {load.tabs} tab{'s' if load.tabs > 1 else ''}",
        len(gets) * interval / load.seconds,
        "per interval",
        n=len(gets),
        note=f"{len(gets)} GETs in {load.seconds:.1f} s at interval {interval:g} s, smallest gap {smallest}; "
        f"{len(every)} upstream requests of any kind",
    )


def run(
    console: Server, simulator: Server, image: bytes, tab_counts: tuple[int, ...], seconds: float, interval: float
) -> list[Row]:
    task_id = create_active_task(console.url, image)
    path = f"/tasks/{task_id}/status"
    rows = [latency_row(SECTION, "task page GET /tasks/{id}, 1 client", task_page_latency(console.url, task_id, 30))]
    loads: list[LoadResult] = []
    for tabs in tab_counts:
        with cpu_usage(console) as cpu:
            load = asyncio.run(_load(console.url, path, tabs, seconds))
        load.cpu = cpu
        loads.append(load)
        rows += level_rows(load, simulator, task_id, interval)
    return rows + summary_rows(loads)


def level_rows(load: LoadResult, simulator: Server, task_id: str, interval: float) -> list[Row]:
    label = f"{load.tabs} tab{'s' if load.tabs > 1 else ''}"
    requests = len(load.latencies)
    return [
        latency_row(SECTION, f"{label}: latency", load.latencies, f"{load.errors} errors"),
        Row(SECTION, f"{label}: throughput", load.rps, "req/s", n=requests, note=load.cpu.note(requests)),
        upstream_row(simulator, task_id, load, interval),
    ]


def summary_rows(loads: list[LoadResult]) -> list[Row]:
    """Scaling against one tab, and how many real tabs one core could follow."""
    first, busiest = loads[0], loads[-1]
    rows = [
        ratio_row(SECTION, f"throughput {load.tabs} tabs / {first.tabs} tab", load.rps, first.rps, "same run")
        for load in loads[1:]
    ]
    cpu_per_request = ratio(busiest.cpu.server, len(busiest.latencies))
    rows.append(
        Row(
            SECTION,
            f"tabs one core can follow at the {STATUS_REFRESH_SECONDS} s refresh",
            ratio(STATUS_REFRESH_SECONDS, cpu_per_request),
            "tabs",
            note=f"{STATUS_REFRESH_SECONDS} s ÷ server CPU per fragment at {busiest.tabs} tabs "
            f"({cpu_per_request * 1000:.2f} ms); an estimate, the page load itself not counted",
        )
    )
    return rows
