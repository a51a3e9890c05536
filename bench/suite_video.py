"""GET /tasks/{id}/video.mp4: whole downloads and 64 KiB Range requests, as a seeking player makes."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

import httpx

from bench.procs import Server, cpu_usage
from bench.stats import Row, human_bytes, latency_row, median, ratio_row

SECTION = "video serving"
RANGE_BYTES = 64 * 1024
CONCURRENT_CLIENTS = 10


def full_downloads(client: httpx.Client, path: str, count: int) -> tuple[list[float], int]:
    samples, size = [], 0
    for _ in range(count):
        start = time.perf_counter()
        size = 0
        with client.stream("GET", path) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                size += len(chunk)
        samples.append(time.perf_counter() - start)
    return samples, size


def _range_header(rng: random.Random, size: int) -> tuple[str, int]:
    offset = rng.randrange(max(1, size - RANGE_BYTES))
    end = min(size, offset + RANGE_BYTES) - 1
    return f"bytes={offset}-{end}", end - offset + 1


def range_requests(client: httpx.Client, path: str, size: int, count: int) -> list[float]:
    rng = random.Random(3)
    samples = []
    for _ in range(count):
        header, expected = _range_header(rng, size)
        start = time.perf_counter()
        response = client.get(path, headers={"Range": header})
        samples.append(time.perf_counter() - start)
        if response.status_code != 206 or len(response.content) != expected:
            raise RuntimeError(f"Range {header} answered {response.status_code} with {len(response.content)} bytes")
    return samples


async def _concurrent_ranges(base_url: str, path: str, size: int, count: int) -> float:
    """Requests per second with CONCURRENT_CLIENTS players seeking at once."""
    rng = random.Random(4)
    per_client = max(1, count // CONCURRENT_CLIENTS)

    async def player(client: httpx.AsyncClient) -> None:
        for _ in range(per_client):
            header, _ = _range_header(rng, size)
            (await client.get(path, headers={"Range": header})).raise_for_status()

    clients = [httpx.AsyncClient(base_url=base_url, timeout=60) for _ in range(CONCURRENT_CLIENTS)]
    try:
        await asyncio.gather(*(client.get(path, headers={"Range": "bytes=0-0"}) for client in clients))
        start = time.perf_counter()
        await asyncio.gather(*(player(client) for client in clients))
        return per_client * CONCURRENT_CLIENTS / (time.perf_counter() - start)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


@dataclass
class VideoResult:
    """The rows, and the numbers a comparison with another server needs."""

    rows: list[Row]
    full_mib_per_s: float
    full_cpu_ms: float
    range_rps: float
    range_cpu_ms: float


def run(server: Server, path: str, label: str, full_count: int, range_count: int) -> VideoResult:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        full_downloads(client, path, 1)  # warm-up
        with cpu_usage(server) as full_cpu:
            full, size = full_downloads(client, path, full_count)
        with cpu_usage(server) as range_cpu:
            ranges = range_requests(client, path, size, range_count)
    with cpu_usage(server) as concurrent_cpu:
        concurrent_rps = asyncio.run(_concurrent_ranges(server.url, path, size, range_count))
    mib_per_s = [size / 2**20 / s for s in full]
    range_rps = len(ranges) / sum(ranges)
    rows = [
        latency_row(SECTION, f"{label}: full download", full, f"{human_bytes(size)} file"),
        Row(
            SECTION,
            f"{label}: full download throughput",
            median(mib_per_s),
            "MiB/s",
            n=len(full),
            note=full_cpu.note(len(full)),
            samples=mib_per_s,
        ),
        latency_row(
            SECTION,
            f"{label}: 64 KiB Range, 1 client",
            ranges,
            f"{range_rps:.0f} req/s; {range_cpu.note(len(ranges))}",
        ),
        Row(
            SECTION,
            f"{label}: 64 KiB Range, {CONCURRENT_CLIENTS} clients",
            concurrent_rps,
            "req/s",
            n=range_count,
            note=concurrent_cpu.note(range_count),
        ),
    ]
    return VideoResult(
        rows,
        full_mib_per_s=median(mib_per_s),
        full_cpu_ms=full_cpu.per_request_ms(len(full)),
        range_rps=range_rps,
        range_cpu_ms=range_cpu.per_request_ms(len(ranges)),
    )


def comparison_rows(console: VideoResult, bare: VideoResult) -> list[Row]:
    """Console ÷ bare Starlette on the same file, same run: what the route and middleware cost."""
    note = "console ÷ bare FileResponse, same file, same run"
    return [
        ratio_row(SECTION, "console/bare: full download MiB/s", console.full_mib_per_s, bare.full_mib_per_s, note),
        ratio_row(
            SECTION,
            "console/bare: server CPU per full download",
            console.full_cpu_ms,
            bare.full_cpu_ms,
            f"{console.full_cpu_ms:.0f} vs {bare.full_cpu_ms:.0f} ms",
        ),
        ratio_row(SECTION, "console/bare: 64 KiB Range req/s", console.range_rps, bare.range_rps, note),
        ratio_row(
            SECTION,
            "console/bare: server CPU per Range request",
            console.range_cpu_ms,
            bare.range_cpu_ms,
            f"{console.range_cpu_ms:.2f} vs {bare.range_cpu_ms:.2f} ms",
        ),
    ]
