"""Run the console and the simulator as real uvicorn subprocesses, and read their memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

# Same isolation as tests/conftest.py: a developer's key or base URL must never leak into a run.
ENV_PREFIXES = ("RUNWAYML_", "CONSOLE_", "SIMULATOR_")
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
# Tasks accepted at once and RUNNING for an hour: they stay active for the whole phase, and no render's
# CPU bleeds into the figures.
LASTING_TASKS_ENV = {"SIMULATOR_PENDING_SECONDS": 0, "SIMULATOR_RUNNING_SECONDS": 3600}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def clean_env(overrides: Mapping[str, object]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES)}
    # Log lines must reach the pipe as they happen: they are the upstream request counter.
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Server:
    """`runway-console <name>` (or `python -m <module_args>`) on a free loopback port.

    The cwd is the private work dir so no `.env` of the project is read. With `capture`,
    output lines are kept with their arrival time (used to count upstream GETs); otherwise
    they go to a file, because the console's access log under load is thousands of lines
    a second and reading them in this process would steal CPU from the load generator.
    """

    def __init__(
        self,
        name: str,
        workdir: Path,
        env: Mapping[str, object],
        *,
        capture: bool = False,
        module_args: Sequence[str] | None = None,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.module_args = list(module_args) if module_args is not None else ["app.cli", name]
        self.workdir = workdir
        self.env = env
        self.capture = capture
        self.port = port if port is not None else free_port()
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._reader: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> Server:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.capture:
            stdout: int | IO[str] = subprocess.PIPE
        else:
            self._log = stdout = open(self.log_path, "w")  # closed in stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", *self.module_args, "--port", str(self.port)],
            cwd=self.workdir,
            env=clean_env(self.env),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if self.capture:
            self._reader = threading.Thread(target=self._read_lines, daemon=True)
            self._reader.start()
        self._wait_ready()
        return self

    def _read_lines(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self.lines.append((time.monotonic(), line.rstrip("\n")))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}: {self.tail()}")
            try:
                httpx.get(self.url + "/", timeout=1.0)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start within {START_TIMEOUT_SECONDS:.0f} s")

    def tail(self, count: int = 20) -> str:
        if self.capture:
            with self._lock:
                return "\n".join(line for _, line in self.lines[-count:])
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-count:])

    def lines_matching(self, needle: str, start: float = 0.0, end: float = float("inf")) -> list[float]:
        """Arrival times of captured lines that contain `needle`, within [start, end]."""
        with self._lock:
            return [t for t, line in self.lines if needle in line and start <= t <= end]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process and its live children have used so far."""
        return tree_cpu_seconds(self.pid)

    def memory_mib(self) -> dict[str, float]:
        """Peak (VmHWM) and current (VmRSS) resident memory of the server process."""
        return read_proc_memory(self.pid)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._log is not None:
            self._log.close()


def lasting_simulator(workdir: Path, *, capture: bool = False) -> Server:
    """`runway-console simulator` whose tasks never finish during a phase (see LASTING_TASKS_ENV)."""
    return Server("simulator", workdir, LASTING_TASKS_ENV, capture=capture)


def console_env(simulator_url: str, data_dir: Path, **settings: object) -> dict[str, object]:
    """A console's environment with the simulator at `simulator_url` as its upstream, and more `settings`."""
    return {
        "RUNWAYML_BASE_URL": simulator_url,
        "RUNWAYML_API_SECRET": "bench-key",
        "CONSOLE_DATA_DIR": data_dir,
        **settings,
    }


@dataclass
class CpuUsage:
    """CPU used by the server and by this process (the load generator) over one measurement."""

    server: float = 0.0
    client: float = 0.0
    wall: float = 0.0

    def per_request_ms(self, requests: int) -> float:
        # The kernel counts CPU time in 10 ms ticks: only meaningful over many requests.
        return self.server / requests * 1000 if requests else float("nan")

    def note(self, requests: int) -> str:
        """Who was busy: a server near 100 % of one core is the limit (uvicorn runs one process)."""
        return (
            f"server CPU {self.server / self.wall:.0%} of a core ({self.per_request_ms(requests):.2f} ms/req), "
            f"load generator {self.client / self.wall:.0%}"
        )


@contextmanager
def cpu_usage(server: Server) -> Iterator[CpuUsage]:
    usage = CpuUsage()
    server_start, client_start, wall_start = server.cpu_seconds(), time.process_time(), time.monotonic()
    yield usage
    usage.server = server.cpu_seconds() - server_start
    usage.client = time.process_time() - client_start
    usage.wall = time.monotonic() - wall_start


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (granian and nginx serve from child processes)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending += [int(child) for child in task.read_text().split()]
            except OSError:
                continue
    return found


def tree_cpu_seconds(pid: int) -> float:
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited between the listing and the read
            continue
        # After the ")" that ends the command name, utime and stime are the 12th and 13th fields.
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def read_proc_memory(pid: int | str = "self") -> dict[str, float]:
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            values[name] = int(rest.split()[0]) / 1024  # the kernel reports kB
    return values
