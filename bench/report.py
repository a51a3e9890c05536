"""Machine description, the Markdown table, and the JSON file in bench/results/."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from bench.stats import Row

PACKAGES = ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "granian", "httpx", "pillow", "av")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@dataclass
class Machine:
    """Where the numbers come from; the load averages say how noisy the box was."""

    cpu: str = field(default_factory=cpu_model)
    cores: int = field(default_factory=lambda: os.cpu_count() or 0)
    cores_usable: int = field(default_factory=lambda: len(os.sched_getaffinity(0)))
    python: str = field(default_factory=platform.python_version)
    system: str = field(default_factory=platform.platform)
    packages: dict[str, str] = field(default_factory=lambda: {name: _version(name) for name in PACKAGES})
    loadavg_start: tuple[float, ...] = field(default_factory=os.getloadavg)
    loadavg_end: tuple[float, ...] = ()

    def header(self) -> list[str]:
        packages = ", ".join(f"{name} {version}" for name, version in self.packages.items())
        return [
            f"- CPU: {self.cpu}, {self.cores} cores ({self.cores_usable} usable)",
            f"- Python {self.python} on {self.system}",
            f"- {packages}",
            f"- {_tool_versions()}",
            f"- load average (1/5/15 min) at start: {_loads(self.loadavg_start)}; at end: {_loads(self.loadavg_end)}",
        ]


def _tool_versions() -> str:
    """wrk and nginx are Debian packages; say which ones ran (or that they are missing)."""
    found = []
    for command in (["wrk", "-v"], ["nginx", "-v"]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=10)
            text = (done.stdout + done.stderr).strip().splitlines()
            found.append(text[0] if text else command[0])
        except (OSError, subprocess.TimeoutExpired):
            found.append(f"{command[0]} missing")
    return "; ".join(found)


def _loads(values: tuple[float, ...]) -> str:
    return " ".join(f"{value:.2f}" for value in values) or "n/a"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


def fmt(value: float | None) -> str:
    if value is None:
        return ""
    if math.isnan(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.1 or value == 0 else f"{value:.3f}"


def markdown(rows: list[Row], machine: Machine, meta: dict[str, object]) -> str:
    lines = [
        f"# runway-console benchmarks ({meta['mode']} run, {meta['elapsed_seconds']:.0f} s)",
        "",
        *machine.header(),
        "",
        "| section | metric | median / value | p95 | unit | n | note |",
        "|---|---|---:|---:|---|---:|---|",
    ]
    for row in rows:
        n = "" if row.n is None else str(row.n)
        note = row.note.replace("|", "\\|")
        cells = [row.section, row.metric, fmt(row.value), fmt(row.p95), row.unit, n, note]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_results(
    folder: Path,
    stamp: str,
    rows: list[Row],
    machine: Machine,
    meta: dict[str, object],
    table: str,
    raw: dict[str, object] | None = None,
) -> Path:
    """bench-<stamp>.json with every sample (and wrk's own summaries), plus latest.json / latest.md."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"meta": meta, "machine": asdict(machine), "rows": [row.to_json() for row in rows], "raw": raw or {}}
    text = json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=True)
    path = folder / f"bench-{stamp}.json"
    path.write_text(text)
    (folder / "latest.json").write_text(text)
    (folder / "latest.md").write_text(table)
    return path
