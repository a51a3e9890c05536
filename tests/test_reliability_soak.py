"""Soak: a real `runway-console serve` (built-in simulator, faults on) under mixed traffic for
SOAK_SECONDS (default 30 minutes), its RSS and open file descriptors sampled; afterwards every task
settled and the samples flat. Not in the normal run:

    RUN_SOAK=1 .venv/bin/python -m pytest -m soak -s tests/test_reliability_soak.py
    RUN_SOAK=1 SOAK_SECONDS=180 .venv/bin/python -m pytest -m soak -s tests/test_reliability_soak.py
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import VALID_FORM, image_bytes, wait_until
from tests.test_reliability_crash import ConsoleProcess, free_port

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(os.environ.get("RUN_SOAK") != "1", reason="the soak runs for minutes: set RUN_SOAK=1"),
]
FAULTS = (
    "429=0.03,429ra=0.02,502=0.03,503=0.02,reset=0.02,timeout=0.01,badjson=0.02,truncjson=0.02,slow=0.03,"
    "cdn403=0.01,cdntrunc=0.01"
)
SAMPLE_SECONDS = 5.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


class Traffic:
    """Submitters, page viewers, fragment pollers and video downloaders, until told to stop."""

    def __init__(self, url: str, seed: int) -> None:
        self.url = url
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.tasks: list[str] = []
        self.answers: dict[int, int] = {}
        self.lock = threading.Lock()
        self.frame = image_bytes(160, 90)

    def count(self, status: int) -> None:
        with self.lock:
            self.answers[status] = self.answers.get(status, 0) + 1

    def submit(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            number = 0
            while not self.stop.is_set():
                trigger = self.random.choice(["", "", "", "", " [sim:internal]", " [sim:moderation]"])
                answer = client.post("/tasks", data={**VALID_FORM, "promptText": f"soak {number}{trigger}"},
                                     files={"first_frame": ("f.png", self.frame, "image/png")})
                self.count(answer.status_code)
                if answer.status_code == 303:
                    with self.lock:
                        self.tasks.append(answer.headers["location"].rsplit("/", 1)[1])
                number += 1
                self.stop.wait(1.0)

    def watch(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                with self.lock:
                    task_id = self.random.choice(self.tasks) if self.tasks else None
                if task_id is None:
                    self.stop.wait(0.2)
                    continue
                for path, headers in (
                    (f"/tasks/{task_id}/status", {"HX-Request": "true"}),
                    (f"/tasks/{task_id}", {}),
                    (f"/tasks/{task_id}/video.mp4", {"Range": "bytes=0-65535"}),
                    ("/tasks", {}),
                ):
                    self.count(client.get(path, headers=headers).status_code)
                self.stop.wait(0.05)


def test_soak(tmp_path):
    seconds = float(os.environ.get("SOAK_SECONDS", "1800"))
    console = ConsoleProcess(tmp_path, "", free_port())
    console.env.pop("RUNWAYML_BASE_URL")
    console.env.pop("RUNWAYML_API_SECRET")
    console.env.update({
        "CONSOLE_POLL_INTERVAL": "0.5", "SIMULATOR_PENDING_SECONDS": "0.5", "SIMULATOR_RUNNING_SECONDS": "2",
        "SIMULATOR_CONCURRENCY": "4", "SIMULATOR_VIDEO_MAX_SIDE": "128", "SIMULATOR_FAULTS": FAULTS,
        "SIMULATOR_FAULT_SEED": "5", "SIMULATOR_FAULT_TIMEOUT_SECONDS": "3", "CONSOLE_UPSTREAM_TIMEOUT": "2",
    })
    console.start()
    assert console.process is not None
    pid = console.process.pid
    traffic = Traffic(console.url, seed=11)
    workers = [threading.Thread(target=traffic.submit, daemon=True)]
    workers += [threading.Thread(target=traffic.watch, daemon=True) for _ in range(4)]
    samples: list[tuple[float, float, int]] = []
    began = time.monotonic()
    try:
        for worker in workers:
            worker.start()
        while time.monotonic() - began < seconds:
            samples.append((round(time.monotonic() - began, 1), round(rss_mib(pid), 1), open_fds(pid)))
            time.sleep(SAMPLE_SECONDS)
        traffic.stop.set()
        for worker in workers:
            worker.join(timeout=60)

        def settled() -> bool:
            with httpx.Client(base_url=console.url, timeout=30) as client:
                return all(
                    client.get(f"/tasks/{task_id}/status").status_code == 286 for task_id in traffic.tasks
                )

        wait_until(settled, timeout=180, step=2)
        samples.append((round(time.monotonic() - began, 1), round(rss_mib(pid), 1), open_fds(pid)))
    finally:
        console.stop()

    third = max(1, len(samples) // 3)
    early, late = samples[third : 2 * third], samples[-third:]
    report = {
        "seconds": seconds,
        "tasks": len(traffic.tasks),
        "answers": dict(sorted(traffic.answers.items())),
        "rss_mib": {"first": samples[0][1], "middle_third_median": statistics.median(s[1] for s in early),
                    "last_third_median": statistics.median(s[1] for s in late), "max": max(s[1] for s in samples)},
        "fds": {"first": samples[0][2], "max": max(s[2] for s in samples), "last": samples[-1][2]},
        "samples": samples,
    }
    (tmp_path / "soak.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=1))
    assert 500 not in traffic.answers
    assert report["tasks"] >= seconds / 3
    # Flat: the last third no more than 15 % above the middle third (warm-up excluded), fds bounded.
    assert report["rss_mib"]["last_third_median"] <= report["rss_mib"]["middle_third_median"] * 1.15
    assert report["fds"]["max"] - report["fds"]["first"] <= 30
