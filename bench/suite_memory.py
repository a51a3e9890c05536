"""Peak RSS of the console while many large uploads arrive at once, in a fresh process per load.

VmHWM only grows, so each scenario gets its own console (and the simulator as its upstream);
VmRSS is also sampled every 50 ms during the load and kept as the row's samples.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench import fixtures
from bench.procs import Server, console_env, lasting_simulator, read_proc_memory
from bench.stats import Row, human_bytes
from bench.suite_forms import FIELDS

SECTION = "memory under concurrent uploads"
SAMPLE_SECONDS = 0.05


async def _uploads(url: str, image: bytes, name: str, count: int) -> list[int]:
    async def one(client: httpx.AsyncClient) -> int:
        response = await client.post("/tasks", data=FIELDS, files={"first_frame": (name, image, "image/png")})
        return response.status_code

    async with httpx.AsyncClient(base_url=url, timeout=300, follow_redirects=False) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(count))))


def scenario(work: Path, simulator_url: str, label: str, image_path: Path, count: int) -> Row:
    image = image_path.read_bytes()
    with Server("serve", work / label, console_env(simulator_url, work / label / "data")) as console:
        idle = console.memory_mib()
        samples: list[float] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(read_proc_memory(console.pid)["VmRSS"])
                time.sleep(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.monotonic()
        try:
            statuses = asyncio.run(_uploads(console.url, image, image_path.name, count))
        finally:
            done.set()
            sampler.join()
        seconds = time.monotonic() - start
        peak = console.memory_mib()["VmHWM"]
    answered = ", ".join(f"{n}× {status}" for status, n in sorted(Counter(statuses).items()))
    return Row(
        SECTION,
        f"peak RSS, {count} concurrent uploads of {label}",
        peak,
        "MiB",
        n=count,
        note=f"idle {idle['VmRSS']:.0f} MiB, +{(peak - idle['VmRSS']) / count:.0f} MiB per upload; "
        f"{human_bytes(len(image))} each; answered {answered} in {seconds:.1f} s",
        samples=samples,
    )


def run(work: Path, photo_uploads: int, giant_uploads: int) -> list[Row]:
    with lasting_simulator(work / "memory-sim") as simulator:
        return [
            scenario(work / "memory", simulator.url, "20 MB noisy PNGs", fixtures.upload_20mb_png(), photo_uploads),
            scenario(work / "memory", simulator.url, "8940×8940 flat PNGs", fixtures.giant_flat_png(), giant_uploads),
        ]
