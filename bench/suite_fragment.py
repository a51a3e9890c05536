"""The status fragment under load, as a ratio to a bare endpoint on the same server, per ASGI server.

For each server option, one process hosts the console and a bare Starlette endpoint that answers
with the very bytes the fragment returned (bench/asgi_host.py); its upstream is `runway-console simulator`.
wrk replays the request chromium's HTMX sends for a RUNNING task (bench/data/htmx_status_request.json)
on N connections, closed loop, then does the same against the bare endpoint: the ratio is what the
console's own work costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import capture_htmx, wrk
from bench.asgi_host import BARE_BODY_ENV, BARE_PATH, BARE_UNCHANGED_PATH, SERVERS
from bench.procs import CpuUsage, Server, console_env, cpu_usage, lasting_simulator
from bench.stats import Row, ratio, ratio_row
from bench.suite_status import create_active_task

SECTION = "status fragment under load (wrk)"


@dataclass
class Pair:
    """One case on one server: the console's answer and the bare route's, same bytes, same load."""

    server: str
    case: str
    fragment: wrk.WrkResult
    bare: wrk.WrkResult
    fragment_cpu: CpuUsage
    bare_cpu: CpuUsage
    body_bytes: int
    status: int


# What the page sends: the version it shows, answered 204 while nothing changed (a 200 with the new box
# whenever the simulator's progress moved, about every 3.6 s, which wrk then follows as htmx would);
# and the full box, as the first poll after a change gets it.
CASES = {
    "unchanged": "the page's poll, task unchanged (204)",
    "changed": "the poll after a change (full fragment, 200)",
}
STALE_VERSION = "0"


def _measure(url: str, headers: dict[str, str], server: Server, connections: int, seconds: float, follow: bool):
    wrk.run(url, connections=connections, seconds=1, headers=headers, follow_version=follow)  # warm-up
    with cpu_usage(server) as cpu:
        result = wrk.run(url, connections=connections, seconds=seconds, headers=headers, follow_version=follow)
    return result, cpu


def measure_server(
    kind: str, work: Path, image: bytes, connections: int, seconds: float, poll_interval: float
) -> list[Pair]:
    # A simulator per server: it runs SIMULATOR_CONCURRENCY tasks at a time and this one never ends,
    # so a shared one would keep the next server's task PENDING.
    with lasting_simulator(work / f"{kind}-simulator") as simulator:
        return _measure_server(kind, work, simulator.url, image, connections, seconds, poll_interval)


def _unchanged_path(client: httpx.Client, captured: dict, task_id: str, headers: dict[str, str]) -> str:
    """The poll a page showing the task's current state sends, checked to get its 204."""
    version = capture_htmx.shown_version(client.get(f"/tasks/{task_id}").text)
    for _ in range(20):
        path = capture_htmx.replay_path(captured, task_id, version)
        response = client.get(path, headers=headers)
        if response.status_code == 204 and not response.content:
            return path
        if response.status_code != 200:
            raise RuntimeError(f"the status poll answered {response.status_code}, expected 204 or 200")
        version = capture_htmx.shown_version(response.text)  # the task moved on meanwhile
    raise RuntimeError("the status poll never answered 204 for the version the page shows")


def _measure_server(
    kind: str, work: Path, simulator_url: str, image: bytes, connections: int, seconds: float, poll_interval: float
) -> list[Pair]:
    captured = capture_htmx.load()
    body_file = work / f"{kind}-fragment.html"
    env = console_env(simulator_url, work / kind / "data", CONSOLE_POLL_INTERVAL=poll_interval)
    env |= {"PYTHONPATH": Path(__file__).resolve().parent.parent, BARE_BODY_ENV: body_file}
    module_args = ["bench.asgi_host", "--server", kind]
    pairs = []
    with Server(f"host-{kind}", work / kind, env, module_args=module_args) as host:
        # Generous: other work on a shared box can hold the first poll back.
        task_id = create_active_task(host.url, image, timeout=120)
        headers = capture_htmx.replay_headers(captured, host.url, task_id)
        changed_path = capture_htmx.replay_path(captured, task_id, STALE_VERSION)
        # Byte-identical answer: fetched with the same headers, not decoded, then served by the bare route.
        with httpx.Client(base_url=host.url, timeout=30) as client:
            unchanged_path = _unchanged_path(client, captured, task_id, headers)
            response = client.get(changed_path, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{kind}: status fragment answered {response.status_code}, expected 200 (RUNNING)")
            if response.headers.get("content-encoding"):
                raise RuntimeError(f"{kind}: the fragment is compressed; the bare route would not match it")
            body_file.write_bytes(response.content)
            bare = client.get(BARE_PATH, headers=headers)
            if bare.content != response.content:
                raise RuntimeError(f"{kind}: the bare endpoint does not answer the fragment's bytes")
        plan = (
            ("unchanged", unchanged_path, BARE_UNCHANGED_PATH, True, 0, 204),
            ("changed", changed_path, BARE_PATH, False, len(response.content), 200),
        )
        for case, path, bare_path, follow, size, status in plan:
            fragment, fragment_cpu = _measure(host.url + path, headers, host, connections, seconds, follow)
            bare_result, bare_cpu = _measure(host.url + bare_path, headers, host, connections, seconds, follow)
            if fragment.summary["errors"]["status"] or bare_result.summary["errors"]["status"]:
                raise RuntimeError(f"{kind}: error statuses under load; see {host.log_path}")
            pairs.append(Pair(kind, case, fragment, bare_result, fragment_cpu, bare_cpu, size, status))
    return pairs


def run(
    work: Path,
    image: bytes,
    servers: tuple[str, ...],
    connections: int,
    seconds: float,
    poll_interval: float,
) -> tuple[list[Row], list[dict]]:
    rows: list[Row] = []
    raw: list[dict] = []
    pairs: list[Pair] = []
    for kind in servers:
        measured = measure_server(kind, work, image, connections, seconds, poll_interval)
        pairs += measured
        for pair in measured:
            rows += pair_rows(pair)
            raw.append(
                {"server": kind, "case": pair.case, "fragment": pair.fragment.to_json(), "bare": pair.bare.to_json()}
            )
    for case in CASES:
        rows += server_choice_rows([pair for pair in pairs if pair.case == case])
    return rows, raw


def _note(result: wrk.WrkResult, cpu: CpuUsage) -> str:
    return (
        f"p50 {result.percentile_ms(50):.1f} ms, p99 {result.percentile_ms(99):.1f} ms, "
        f"{result.errors} socket/status errors; {cpu.note(result.requests)}, wrk {result.client_cpu / cpu.wall:.0%}"
    )


def pair_rows(pair: Pair) -> list[Row]:
    label = f"{pair.server}, {pair.case}"
    c, s = pair.fragment.connections, pair.fragment.seconds
    cpu_ratio = ratio(
        pair.fragment_cpu.per_request_ms(pair.fragment.requests), pair.bare_cpu.per_request_ms(pair.bare.requests)
    )
    return [
        Row(
            SECTION,
            f"{label}: fragment req/s ({c} conns, {s:g} s)",
            pair.fragment.rps,
            "req/s",
            n=pair.fragment.requests,
            note=f"{CASES[pair.case]}; " + _note(pair.fragment, pair.fragment_cpu),
        ),
        Row(
            SECTION,
            f"{label}: bare endpoint req/s, same answer ({pair.status}, {pair.body_bytes} B)",
            pair.bare.rps,
            "req/s",
            n=pair.bare.requests,
            note=_note(pair.bare, pair.bare_cpu),
        ),
        Row(
            SECTION,
            f"{label}: fragment p99 latency",
            pair.fragment.percentile_ms(99),
            "ms",
            n=pair.fragment.requests,
            note=f"bare p99 {pair.bare.percentile_ms(99):.1f} ms; p99.9 {pair.fragment.percentile_ms(99.9):.1f} ms",
            samples=pair.fragment.percentiles_ms(),
        ),
        ratio_row(
            SECTION,
            f"{label}: fragment ÷ bare req/s",
            pair.fragment.rps,
            pair.bare.rps,
            f"p99 fragment ÷ bare {ratio(pair.fragment.percentile_ms(99), pair.bare.percentile_ms(99)):.2f}×; "
            f"server CPU per request {cpu_ratio:.2f}×",
        ),
    ]


def server_choice_rows(pairs: list[Pair]) -> list[Row]:
    """Each server's fragment req/s against the first one's (uvicorn with h11, the console's default)."""
    if len(pairs) < 2:
        return []
    base = pairs[0]
    return [
        ratio_row(
            SECTION,
            f"{pair.server} ÷ {base.server}, {pair.case}: fragment req/s",
            pair.fragment.rps,
            base.fragment.rps,
            f"p99 {pair.fragment.percentile_ms(99):.1f} vs {base.fragment.percentile_ms(99):.1f} ms; "
            f"bare {ratio(pair.bare.rps, base.bare.rps):.2f}×; {SERVERS[pair.server]}",
        )
        for pair in pairs[1:]
    ]


def dump(raw: list[dict]) -> str:
    return json.dumps(raw, indent=2)
