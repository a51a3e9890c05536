"""nginx (Debian's package) started from bench/nginx.conf.template in a private prefix, then stopped.

Everything it writes (pid, logs, temp files) stays in that prefix; it listens on a free loopback
port; it runs in the foreground as a child of the harness, so it ends with the run.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench.procs import free_port, tree_cpu_seconds

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
START_TIMEOUT_SECONDS = 15.0


def require_nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if path is None:
        raise RuntimeError("nginx is not installed: apt-get install -y nginx (see bench/README.md)")
    return path


def render(prefix: Path, listen_port: int, console_port: int, videos_dir: Path) -> str:
    # As root, nginx would hand its workers to `nobody`, who cannot read a private temp dir.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    values = {
        "USER_DIRECTIVE": user,
        "PREFIX": str(prefix),
        "LISTEN_PORT": str(listen_port),
        "CONSOLE_PORT": str(console_port),
        "VIDEOS_DIR": str(videos_dir),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    left = re.findall(r"@[A-Z_]+@", code)
    if left:
        raise ValueError(f"unfilled placeholders in {TEMPLATE.name}: {', '.join(sorted(set(left)))}")
    return text


class Nginx:
    def __init__(self, prefix: Path, console_port: int, videos_dir: Path) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.console_port = console_port
        self.videos_dir = videos_dir
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def cpu_seconds(self) -> float:
        """The master and its worker: the worker does the serving."""
        return tree_cpu_seconds(self.pid)

    def __enter__(self) -> Nginx:
        binary = require_nginx()
        self.prefix.mkdir(parents=True, exist_ok=True)
        config = self.prefix / "nginx.conf"
        config.write_text(render(self.prefix, self.port, self.console_port, self.videos_dir))
        command = [binary, "-p", str(self.prefix), "-c", str(config), "-e", str(self.prefix / "error.log")]
        subprocess.run([*command, "-t", "-q"], check=True, capture_output=True)
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"nginx exited with {self._process.returncode}: {self.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError(f"nginx did not listen within {START_TIMEOUT_SECONDS:.0f} s")

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def __exit__(self, *exc_info: object) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
