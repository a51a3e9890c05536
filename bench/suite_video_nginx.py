"""Video bytes under load: nginx alone vs the console standalone, proxied, and via X-Accel-Redirect.

One console task with a stored video (its file then replaced by a large one: the route only
stat()s and streams it), nginx from bench/nginx.conf.template in a private prefix, and wrk with
N connections asking for the whole file, then for random 64 KiB Ranges (bench/wrk.lua).
The X-Accel-Redirect row needs the console to answer `X-Accel-Redirect: /_protected_videos/<file>`
when CONSOLE_ACCEL_REDIRECT is set; a build that does not is reported as such, never measured as if it did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import wrk
from bench.fixtures import scene_jpeg
from bench.nginx import Nginx
from bench.procs import CpuUsage, Server, free_port
from bench.stats import Row, human_bytes, ratio_row
from bench.suite_e2e import one_task

SECTION = "video serving under load (wrk)"
ACCEL_ENV = "CONSOLE_ACCEL_REDIRECT"
ACCEL_PREFIX = "/_protected_videos/"
NOT_SUPPORTED = "not supported by this build"


@dataclass
class Measured:
    target: str
    full: wrk.WrkResult | None
    ranges: wrk.WrkResult | None
    full_cpu: CpuUsage | None = None
    range_cpu: CpuUsage | None = None
    note: str = ""


def _cpu_of(readers: list[Callable[[], float]]) -> Callable[[], float]:
    return lambda: sum(read() for read in readers)


def _load(url: str, cpu: Callable[[], float], connections: int, seconds: float, size: int | None):
    import time

    wrk.run(url, connections=connections, seconds=1, range_size=size)  # warm-up
    usage = CpuUsage()
    start_cpu, start_wall = cpu(), time.monotonic()
    result = wrk.run(url, connections=connections, seconds=seconds, range_size=size)
    usage.server, usage.wall = cpu() - start_cpu, time.monotonic() - start_wall
    usage.client = result.client_cpu
    if result.summary["errors"]["status"] or result.summary["errors"]["read"]:
        raise RuntimeError(f"{url}: errors under load: {result.summary['errors']}")
    return result, usage


def _check(url: str, size: int) -> None:
    """Both kinds of request answer what a player expects before any load is put on them."""
    with httpx.Client(timeout=120) as client:
        head = client.get(url, headers={"Range": "bytes=0-65535"})
        if head.status_code != 206 or len(head.content) != 65536:
            raise RuntimeError(f"{url}: Range answered {head.status_code} with {len(head.content)} bytes")
        with client.stream("GET", url) as response:
            received = sum(len(chunk) for chunk in response.iter_raw())
        if response.status_code != 200 or received != size:
            raise RuntimeError(f"{url}: full GET answered {response.status_code} with {received} of {size} bytes")


def measure(target: str, url: str, cpu: Callable[[], float], size: int, connections: int, seconds: float) -> Measured:
    _check(url, size)
    full, full_cpu = _load(url, cpu, connections, seconds, None)
    ranges, range_cpu = _load(url, cpu, connections, seconds, size)
    return Measured(target, full, ranges, full_cpu, range_cpu)


def accel_header(console_url: str, path: str) -> str | None:
    """What the console answers itself, straight, with CONSOLE_ACCEL_REDIRECT set."""
    with httpx.Client(base_url=console_url, timeout=60) as client:
        with client.stream("GET", path) as response:
            return response.headers.get("x-accel-redirect")


def run(work: Path, file_bytes: int, connections: int, seconds: float, log: Callable[[str], None]):
    data_dir = work / "video" / "data"
    port = free_port()  # both consoles take it in turn, so nginx's upstream stays the same
    base_env = {
        "CONSOLE_DATA_DIR": data_dir,
        "SIMULATOR_PENDING_SECONDS": 0,
        "SIMULATOR_RUNNING_SECONDS": 1,
    }
    results: list[Measured] = []
    with Server("serve", work / "video" / "plain", base_env, port=port) as console:
        with httpx.Client(base_url=console.url, timeout=60, follow_redirects=False) as client:
            timeline = one_task(client, scene_jpeg((1280, 720), seed=21), scene_jpeg((1280, 720), seed=22))
        task_id = timeline.task_id
        video = data_dir / "videos" / f"{task_id}.mp4"
        temp = video.with_name(video.name + ".bench")
        temp.write_bytes(os.urandom(file_bytes))
        os.replace(temp, video)
        path = f"/tasks/{task_id}/video.mp4"
        with Nginx(work / "video" / "nginx", port, data_dir / "videos") as nginx:
            log(f"video: nginx direct, {connections} connections, {seconds:g} s × (full, 64 KiB Range)")
            direct = f"{nginx.url}/_bench_direct_videos/{video.name}"
            results.append(
                measure("nginx alone (sendfile)", direct, nginx.cpu_seconds, file_bytes, connections, seconds)
            )
            log("video: console standalone")
            results.append(
                measure("console standalone", console.url + path, console.cpu_seconds, file_bytes, connections, seconds)
            )
            log("video: console proxied by nginx (no X-Accel-Redirect)")
            both = _cpu_of([console.cpu_seconds, nginx.cpu_seconds])
            results.append(
                measure("console proxied by nginx", nginx.url + path, both, file_bytes, connections, seconds)
            )
            console.stop()
            accel_env = base_env | {ACCEL_ENV: ACCEL_PREFIX}
            with Server("serve", work / "video" / "accel", accel_env, port=port) as accel_console:
                header = accel_header(accel_console.url, path)
                label = "console + nginx X-Accel-Redirect"
                if header is None:
                    log(f"video: {label}: {NOT_SUPPORTED} (no X-Accel-Redirect header with {ACCEL_ENV} set)")
                    results.append(
                        Measured(
                            label,
                            None,
                            None,
                            note=f"{NOT_SUPPORTED}: the console answered "
                            f"{path} itself with {ACCEL_ENV}={ACCEL_PREFIX} set",
                        )
                    )
                elif header != ACCEL_PREFIX + video.name:
                    raise RuntimeError(f"X-Accel-Redirect is {header!r}, expected {ACCEL_PREFIX + video.name!r}")
                else:
                    log(f"video: {label}")
                    both = _cpu_of([accel_console.cpu_seconds, nginx.cpu_seconds])
                    results.append(measure(label, nginx.url + path, both, file_bytes, connections, seconds))
    return rows(results, file_bytes), [raw(m) for m in results]


def raw(measured: Measured) -> dict:
    return {
        "target": measured.target,
        "note": measured.note,
        "full": measured.full.to_json() if measured.full else None,
        "ranges": measured.ranges.to_json() if measured.ranges else None,
    }


def _load_row(metric: str, value: float, unit: str, result: wrk.WrkResult, cpu: CpuUsage, latency: str) -> Row:
    """One wrk load: its figure, its latency and who was busy; the latency histogram goes to the JSON."""
    note = f"{latency}; {cpu.note(result.requests)}"
    return Row(SECTION, metric, value, unit, n=result.requests, note=note, samples=result.percentiles_ms())


def rows(results: list[Measured], size: int) -> list[Row]:
    out: list[Row] = []
    base = results[0]
    assert base.full and base.ranges
    for m in results:
        if m.full is None or m.ranges is None or m.full_cpu is None or m.range_cpu is None:
            out.append(Row(SECTION, f"{m.target}", None, "", note=m.note))
            continue
        c = m.full.connections
        out += [
            _load_row(
                f"{m.target}: full {human_bytes(size)}, {c} clients",
                m.full.mib_per_s,
                "MiB/s",
                m.full,
                m.full_cpu,
                f"{m.full.rps:.1f} req/s, p99 {m.full.percentile_ms(99):.0f} ms",
            ),
            _load_row(
                f"{m.target}: 64 KiB Range, {c} clients",
                m.ranges.rps,
                "req/s",
                m.ranges,
                m.range_cpu,
                f"p50 {m.ranges.percentile_ms(50):.1f} ms, p99 {m.ranges.percentile_ms(99):.1f} ms",
            ),
        ]
        if m is not base:
            out += [
                ratio_row(
                    SECTION,
                    f"{m.target} ÷ nginx alone: full MiB/s",
                    m.full.mib_per_s,
                    base.full.mib_per_s,
                    f"p99 {m.full.percentile_ms(99):.0f} vs {base.full.percentile_ms(99):.0f} ms",
                ),
                ratio_row(
                    SECTION,
                    f"{m.target} ÷ nginx alone: Range req/s",
                    m.ranges.rps,
                    base.ranges.rps,
                    f"p99 {m.ranges.percentile_ms(99):.1f} vs {base.ranges.percentile_ms(99):.1f} ms",
                ),
            ]
    return out
