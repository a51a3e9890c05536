"""Run wrk (Debian's `wrk` package) with bench/wrk.lua and read back its summary.

wrk is a closed-loop load generator written in C: each connection sends its next request as
soon as the previous answer arrives, so at N connections it measures what the server sustains,
and it costs far less CPU per request than a Python client, which matters on 2 cores.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).with_name("wrk.lua")
# One load-generator thread leaves the other core to the server (one process, one event loop).
THREADS = 1


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk (see bench/README.md)")
    return path


@dataclass
class WrkResult:
    """wrk's own summary, its printed output, and the CPU the load generator used."""

    url: str
    connections: int
    seconds: float
    summary: dict
    output: str
    client_cpu: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return int(self.summary["requests"])

    @property
    def wall(self) -> float:
        return self.summary["duration_us"] / 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else float("nan")

    @property
    def mib_per_s(self) -> float:
        return self.summary["bytes"] / 2**20 / self.wall if self.wall else float("nan")

    @property
    def errors(self) -> int:
        return sum(int(v) for v in self.summary["errors"].values())

    def percentile_ms(self, p: int | float) -> float:
        key = str(p) if isinstance(p, float) else str(int(p))
        return self.summary["latency_us"]["percentiles"][key] / 1000

    def percentiles_ms(self) -> list[float]:
        """p1..p99 (then p99.9, p99.99): the latency distribution, kept as the row's samples."""
        return [value / 1000 for value in self.summary["latency_us"]["percentiles"].values()]

    def to_json(self) -> dict:
        return {
            "url": self.url,
            "connections": self.connections,
            "seconds": self.seconds,
            "headers": self.headers,
            "summary": self.summary,
            "client_cpu_seconds": self.client_cpu,
            "wrk_output": self.output,
        }


def run(
    url: str,
    *,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    range_size: int | None = None,
    follow_version: bool = False,
    timeout_seconds: float = 30.0,
) -> WrkResult:
    wrk = require_wrk()
    headers = dict(headers or {})
    with tempfile.TemporaryDirectory(prefix="runway-wrk-") as scratch:
        report = Path(scratch) / "summary.json"
        command = [
            wrk,
            f"-t{min(THREADS, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_seconds:g}s",
            "--latency",
            "-s",
            str(LUA),
        ]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        command.append(url)
        env = os.environ | {"WRK_REPORT": str(report)}
        if range_size is not None:
            env["WRK_RANGE_SIZE"] = str(range_size)
        if follow_version:
            env["WRK_FOLLOW_VERSION"] = "1"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if completed.returncode != 0 or not report.exists():
            raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
        summary = json.loads(report.read_text())
    client_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return WrkResult(url, connections, seconds, summary, completed.stdout, client_cpu, headers)
