"""Run every benchmark, print a Markdown table, write JSON to bench/results/.

Phases run one after another, never overlapping: on a 2-core box a render or a second
server in the background would show up in every other number.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from bench import (
    fixtures,
    suite_e2e,
    suite_forms,
    suite_fragment,
    suite_gallery,
    suite_memory,
    suite_prepare,
    suite_render,
    suite_startup,
    suite_status,
    suite_submit,
    suite_upstream,
    suite_video,
    suite_video_nginx,
)
from bench.asgi_host import SERVERS
from bench.procs import Server, console_env, lasting_simulator
from bench.report import Machine, markdown, write_results
from bench.stats import Row

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LARGE_FILE_BYTES = 32 * 2**20
# Several people submitting phone photos together: each prepare_image peaks near 130 MiB.
BURST_UPLOADS = 4


@dataclass(frozen=True)
class Plan:
    """How many samples each benchmark takes; `--quick` trades precision for time."""

    prepare_small: int = 30
    prepare_photo: int = 5
    render_sides: tuple[int, ...] = (640, 1280)
    render_durations: tuple[int, ...] = (5, 10)
    render_repeats: int = 3
    form_small: int = 30
    form_photo: int = 20  # also the "20 tasks with 5 MB uploads" of the memory figures
    form_invalid: int = 30
    status_tabs: tuple[int, ...] = (1, 10, 50)
    status_seconds: float = 8.0
    poll_interval: float = 1.0
    e2e_runs: int = 3
    video_full: int = 30
    video_ranges: int = 300
    fragment_servers: tuple[str, ...] = ("uvicorn-h11", "uvicorn-uvloop", "granian")
    fragment_connections: int = 200
    fragment_seconds: float = 15.0
    fragment_poll_interval: float = 5.0  # the console's default CONSOLE_POLL_INTERVAL
    video_clients: int = 20
    video_seconds: float = 15.0
    video_file_bytes: int = LARGE_FILE_BYTES
    submit_posts: int = 20
    memory_photo_uploads: int = 10
    memory_giant_uploads: int = 6
    startup_runs: int = 5
    economy_tasks: int = 200
    economy_tabs: int = 50
    economy_seconds: float = 60.0
    economy_interval: float = 5.0
    gallery_sizes: tuple[int, ...] = (500, 5000)
    gallery_samples: int = 30


FULL = Plan()
QUICK = Plan(
    prepare_small=10,
    prepare_photo=2,
    render_sides=(640,),
    render_repeats=1,
    form_small=10,
    form_photo=5,
    form_invalid=10,
    status_seconds=3.0,
    e2e_runs=1,
    video_full=10,
    video_ranges=100,
    fragment_seconds=5.0,
    video_seconds=5.0,
    submit_posts=5,
    startup_runs=2,
    economy_seconds=20.0,
    gallery_sizes=(500,),
    gallery_samples=10,
)


@dataclass
class Session:
    """What the phases of one run share: the plan, a scratch folder, the input images, the samples
    that go to the JSON under `raw`, and the prepare_image medians the console phase compares with."""

    plan: Plan
    work: Path
    small: bytes
    photo: bytes
    raw: dict[str, object] = field(default_factory=dict)
    prepare_medians: tuple[float, float] | None = None


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def memory_rows(label: str, console: Server, simulator: Server | None = None) -> list[Row]:
    memory = console.memory_mib()
    note = f"VmRSS now {memory['VmRSS']:.0f} MiB"
    if simulator is not None:
        note += f"; simulator process VmHWM {simulator.memory_mib()['VmHWM']:.0f} MiB"
    return [Row("memory (console process)", f"peak RSS {label}", memory["VmHWM"], "MiB", note=note)]


def phase_prepare(session: Session) -> list[Row]:
    log("prepare_image: timing, tracemalloc, fresh-process peak")
    plan = session.plan
    rows, session.prepare_medians = suite_prepare.run(
        session.small, session.photo, plan.prepare_small, plan.prepare_photo
    )
    return rows


def phase_render(session: Session) -> list[Row]:
    plan = session.plan
    log(f"render: sides {plan.render_sides} × {plan.render_durations} s × 2 modes × {plan.render_repeats}")
    return suite_render.run(plan.render_sides, plan.render_durations, plan.render_repeats)


def phase_console(session: Session) -> list[Row]:
    """Console → simulator over HTTP (the "real upstream" path): forms, status load, memory."""
    plan, work, small, photo = session.plan, session.work, session.small, session.photo
    # Without the prepare phase the shares still need a reference.
    prepare_medians = session.prepare_medians or suite_prepare.medians(small, photo, 5, 1)
    with lasting_simulator(work / "simulator", capture=True) as simulator:
        env = console_env(simulator.url, work / "console" / "data", CONSOLE_POLL_INTERVAL=plan.poll_interval)
        with Server("serve", work / "console", env) as console:
            rows = memory_rows("idle after start", console)
            log(f"forms: {plan.form_small} small, {plan.form_photo} × 12 MP, {plan.form_invalid} invalid")
            counts = (plan.form_small, plan.form_photo, plan.form_invalid)
            rows += suite_forms.run(console, simulator.url, small, photo, counts, prepare_medians)
            rows += memory_rows(f"after {plan.form_photo} × ~5 MB uploads, one at a time", console, simulator)
            seconds = suite_forms.concurrent_burst(console.url, photo, BURST_UPLOADS)
            rows += memory_rows(f"after {BURST_UPLOADS} more 12 MP uploads at once ({seconds:.1f} s)", console)
            log(f"status: {plan.status_tabs} tabs × {plan.status_seconds:g} s")
            rows += suite_status.run(
                console, simulator, small, plan.status_tabs, plan.status_seconds, plan.poll_interval
            )
            rows += memory_rows(f"after the {max(plan.status_tabs)}-tab status load", console, simulator)
    return rows


def phase_e2e(session: Session) -> list[Row]:
    """Out-of-the-box console (built-in simulator, default timings), then serve what it made."""
    plan, work = session.plan, session.work
    data_dir = work / "default" / "data"
    with Server("serve", work / "default", {"CONSOLE_DATA_DIR": data_dir}) as console:
        log(f"e2e: {plan.e2e_runs} task(s) at default settings (~10 s each)")
        first, last = fixtures.scene_jpeg((1280, 720), seed=11), fixtures.scene_jpeg((1280, 720), seed=12)
        rows, task_ids = suite_e2e.run(console.url, first, last, plan.e2e_runs)
        log("video serving: the rendered mp4, then a 32 MiB file in its place, then a bare FileResponse")
        video = partial(suite_video.run, full_count=plan.video_full, range_count=plan.video_ranges)
        rows += video(console, f"/tasks/{task_ids[0]}/video.mp4", "rendered mp4").rows
        # The route only stat()s and streams the file, so random bytes stand in for a long, large video.
        large = data_dir / "videos" / f"{task_ids[-1]}.mp4"
        _replace_file(large, os.urandom(LARGE_FILE_BYTES))
        on_console = video(console, f"/tasks/{task_ids[-1]}/video.mp4", "32 MiB file")
        rows += on_console.rows
        rows += memory_rows("after the default-settings run and video load", console)
    bare_args = ["bench.bare_server", "--file", str(large)]
    with Server("bare", work / "bare", {"PYTHONPATH": ROOT}, module_args=bare_args) as bare:
        on_bare = video(bare, "/video.mp4", "32 MiB file, bare Starlette")
    return rows + on_bare.rows + suite_video.comparison_rows(on_console, on_bare)


def phase_fragment(session: Session) -> list[Row]:
    """The HTMX status request, on every ASGI server option, against a bare endpoint in the same process."""
    plan = session.plan
    log(
        f"fragment: {', '.join(plan.fragment_servers)}; {plan.fragment_connections} connections × "
        f"{plan.fragment_seconds:g} s, fragment then bare"
    )
    rows, samples = suite_fragment.run(
        session.work / "fragment",
        fixtures.small_png(),
        plan.fragment_servers,
        plan.fragment_connections,
        plan.fragment_seconds,
        plan.fragment_poll_interval,
    )
    session.raw["fragment"] = samples
    return rows


def phase_video(session: Session) -> list[Row]:
    plan = session.plan
    log(f"video: {plan.video_clients} clients × {plan.video_seconds:g} s per target and kind")
    rows, samples = suite_video_nginx.run(
        session.work, plan.video_file_bytes, plan.video_clients, plan.video_seconds, log
    )
    session.raw["video"] = samples
    return rows


def phase_submit(session: Session) -> list[Row]:
    log(f"submit: {session.plan.submit_posts} × 3 MB PNG through the console, then the same JSON to the simulator")
    return suite_submit.run(session.work, session.plan.submit_posts)


def phase_memory(session: Session) -> list[Row]:
    plan = session.plan
    log(
        f"memory: {plan.memory_photo_uploads} × 20 MB and {plan.memory_giant_uploads} × 8940² PNG at once "
        f"(inputs cached in {fixtures.cache_dir()})"
    )
    return suite_memory.run(session.work, plan.memory_photo_uploads, plan.memory_giant_uploads)


def phase_startup(session: Session) -> list[Row]:
    log(f"startup: {session.plan.startup_runs} cold starts")
    return suite_startup.run(session.work, session.plan.startup_runs)


def phase_upstream(session: Session) -> list[Row]:
    plan = session.plan
    rows, samples = suite_upstream.run(
        session.work, plan.economy_tasks, plan.economy_tabs, plan.economy_seconds, plan.economy_interval, log
    )
    session.raw["upstream"] = samples
    return rows


def phase_gallery(session: Session) -> list[Row]:
    plan = session.plan
    log(f"gallery: GET /tasks over {', '.join(map(str, plan.gallery_sizes))} seeded tasks × {plan.gallery_samples}")
    return suite_gallery.run(session.work, plan.gallery_sizes, plan.gallery_samples)


# In the order they run. The first four time the app's parts one client at a time; the rest put it under
# load side by side with a baseline (wrk, nginx, a bare endpoint, the simulator alone) and report ratios.
PHASES: dict[str, Callable[[Session], list[Row]]] = {
    "prepare": phase_prepare,
    "render": phase_render,
    "console": phase_console,
    "e2e": phase_e2e,
    "fragment": phase_fragment,
    "video": phase_video,
    "submit": phase_submit,
    "memory": phase_memory,
    "startup": phase_startup,
    "upstream": phase_upstream,
    "gallery": phase_gallery,
}


def _replace_file(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".bench")
    temp.write_bytes(data)
    os.replace(temp, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, only 640 px renders (under a minute)")
    parser.add_argument("--only", default=",".join(PHASES), help=f"comma-separated phases among {', '.join(PHASES)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and Markdown results")
    parser.add_argument(
        "--servers",
        help=f"fragment phase: comma-separated ASGI servers among {', '.join(SERVERS)} (default: all)",
    )
    parser.add_argument("--fragment-seconds", type=float, help="fragment phase: seconds per wrk run")
    parser.add_argument("--connections", type=int, help="fragment phase: wrk connections")
    parser.add_argument("--video-seconds", type=float, help="video phase: seconds per wrk run")
    parser.add_argument("--economy-seconds", type=float, help="upstream phase: how long the tabs poll")
    args = parser.parse_args(argv)
    if args.servers:
        args.servers = tuple(s.strip() for s in args.servers.split(",") if s.strip())
        if set(args.servers) - set(SERVERS):
            parser.error(f"unknown server(s): {', '.join(sorted(set(args.servers) - set(SERVERS)))}")
    args.phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    overrides = {
        "fragment_servers": args.servers,
        "fragment_seconds": args.fragment_seconds,
        "fragment_connections": args.connections,
        "video_seconds": args.video_seconds,
        "economy_seconds": args.economy_seconds,
    }
    plan = replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    machine = Machine()
    started, started_at = time.monotonic(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    small, photo = fixtures.small_png(), fixtures.photo_jpeg()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="runway-bench-") as scratch:
        session = Session(plan, Path(scratch), small, photo)
        for name, phase in PHASES.items():
            if name in args.phases:
                rows += phase(session)
    machine.loadavg_end = os.getloadavg()
    meta = {
        "mode": "quick" if args.quick else "full",
        "phases": args.phases,
        "elapsed_seconds": time.monotonic() - started,
        "plan": asdict(plan),
        "started": started_at,
    }
    table = markdown(rows, machine, meta)
    print(table)
    path = write_results(args.out, time.strftime("%Y%m%d-%H%M%S"), rows, machine, meta, table, session.raw)
    log(f"wrote {path}")
    return 0
