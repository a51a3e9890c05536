"""Start-up: from launching `runway-console serve` to its first 200 on /healthz."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.procs import clean_env, free_port
from bench.stats import Row, latency_row, median, ratio_row

SECTION = "start-up"
TIMEOUT_SECONDS = 60.0
PROBE_SECONDS = 0.005


def time_to_healthy(work: Path, run: int) -> float:
    port = free_port()
    env = clean_env({"CONSOLE_DATA_DIR": work / f"start-{run}" / "data"})
    (work / f"start-{run}").mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=work / f"start-{run}",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(timeout=1.0) as client:
            while time.perf_counter() - start < TIMEOUT_SECONDS:
                if process.poll() is not None:
                    raise RuntimeError(f"runway-console serve exited with {process.returncode}")
                try:
                    if client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        return time.perf_counter() - start
                except httpx.TransportError:
                    pass
                time.sleep(PROBE_SECONDS)
        raise RuntimeError(f"no 200 on /healthz within {TIMEOUT_SECONDS:.0f} s")
    finally:
        process.terminate()
        process.wait(timeout=15)


def interpreter_start() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def run(work: Path, runs: int) -> list[Row]:
    samples = [time_to_healthy(work, i) for i in range(runs)]
    bare = [interpreter_start() for _ in range(runs)]
    return [
        latency_row(SECTION, "process start → first 200 on /healthz", samples, "built-in simulator, fresh data dir"),
        latency_row(SECTION, "bare `python -c pass`, for scale", bare),
        ratio_row(SECTION, "start-up ÷ bare interpreter", median(samples), median(bare), "same run"),
    ]
