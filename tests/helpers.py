"""Test helpers importable from any test module (fixtures live in conftest.py)."""

from __future__ import annotations

import functools
import io
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from PIL import Image, ImageDraw

from app.netguard.transport import default_tls
from app.passwords import AccountPasswords

if TYPE_CHECKING:
    from runwayml import RunwayML

# The upstream key every console under test is given; tests check it never leaks.
SECRET = "hk-test-ZEBRA-secret-9d41c7e05b"
VALID_FORM = {"model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "promptText": "waves roll in"}
FRAME_URL = "https://cdn.example.com/frame.png"
# The DNS every console under test uses: names under example.com are public (this address is never
# connected to), a few resolve to private or loopback addresses, anything else does not exist.
PUBLIC_TEST_ADDRESS = "93.184.215.14"
TEST_DNS = {
    "intranet.example.com": ["10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "mixed.example.com": [PUBLIC_TEST_ADDRESS, "127.0.0.1"],
    "rebind.example.com": ["127.0.0.1"],
    "v6local.example.com": ["::1"],
}


async def console_dns(host: str, port: int) -> list[str]:
    """The fake resolver consoles under test are given (tests reach nothing but loopback)."""
    name = host.lower().rstrip(".")
    if name in TEST_DNS:
        return TEST_DNS[name]
    if name == "example.com" or name.endswith(".example.com"):
        return [PUBLIC_TEST_ADDRESS]
    raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test DNS")


class LiveServer:
    """An ASGI app served by uvicorn on a free loopback port in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1") -> None:
        self.host = host
        # The socket is bound here and handed to uvicorn, so no other worker can take the port
        # between choosing it and listening on it.
        self.socket = socket.socket()
        self.socket.bind((host, 0))
        self.port = self.socket.getsockname()[1]
        # h11 and asyncio whatever is installed: httptools (a dependency now) answers a reset or a cut
        # body differently, and the fault tests replay a seeded sequence of them.
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", lifespan="on", http="h11", loop="asyncio"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self.ask_to_stop()
        self.join()

    def ask_to_stop(self) -> None:
        """Tell uvicorn to wind down (it takes a tick or two, about 0.2 s) without waiting for it."""
        self.server.should_exit = True

    def join(self) -> None:
        self.thread.join(timeout=15)
        self.socket.close()


def image_bytes(
    width: int = 640,
    height: int = 384,
    color: tuple[int, int, int] = (40, 90, 200),
    image_format: str = "PNG",
    **save_options: object,
) -> bytes:
    """A small real image with a shape on it, encoded in the given format.

    Made once per process for each set of arguments (bytes cannot be changed by the test that gets
    them): encoding the same image again was a second or two of CPU over the suite.
    """
    options = tuple(sorted(save_options.items()))
    try:
        return _encoded_image(width, height, tuple(color), image_format, options)
    except TypeError:  # an option that cannot be a cache key (a list of frames): encode it afresh
        return _encoded_image.__wrapped__(width, height, tuple(color), image_format, options)


@functools.cache
def _encoded_image(
    width: int, height: int, color: tuple[int, ...], image_format: str, options: tuple[tuple[str, object], ...]
) -> bytes:
    image = Image.new("RGB", (width, height), color)
    if width // 2 > width // 4:  # yellow rows every 7 px across the upper-left quarter
        draw = ImageDraw.Draw(image)
        for y in range(height // 4, height // 2, 7):
            draw.line([(width // 4, y), (width // 2 - 1, y)], fill=(250, 220, 40))
    buffer = io.BytesIO()
    image.save(buffer, image_format, **dict(options))
    return buffer.getvalue()


def answers_ok(url: str, timeout: float = 1.0) -> bool:
    """Whether a GET of `url` answers 200; False while nothing listens there. For polling loops: the
    client shares the process's TLS context, where httpx.get would read the CA bundle on every call."""
    try:
        with httpx.Client(timeout=timeout, verify=default_tls()) as client:
            return client.get(url).status_code == 200
    except httpx.TransportError:
        return False


REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CliResult:
    """What a run of the command line gave: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> CliResult:
    """`python -m app.cli ARGS` in a process of its own, as a shell runs it, with only `env` and PATH set.

    For what only a real process shows (the entry point, what reaches the terminal as it exits);
    the `cli` fixture runs the same code in the test's process, a second of CPU cheaper.
    """
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        input=stdin,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **env},
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def sdk_client(api_key: str, base_url: str, **options: Any) -> RunwayML:
    """The official SDK's client for `base_url`, as a developer makes one, on the SDK's own httpx
    defaults but the process's one TLS context (each new client would read the CA bundle again)."""
    from runwayml import DefaultHttpxClient, RunwayML

    return RunwayML(api_key=api_key, base_url=base_url, http_client=DefaultHttpxClient(verify=default_tls()), **options)


def wait_until(condition: Callable[[], object], timeout: float = 20.0, step: float = 0.05) -> None:
    """Poll a condition until it holds; fail the test if it never does within `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)


def sample_path(path: str, values: dict[str, str]) -> str:
    """A route's path with its parameters filled from `values` ("x" for any not given)."""
    return re.sub(r"{(\w+)(:\w+)?}", lambda m: values.get(m.group(1), "x"), path)


def create_task(console: Any, frame: bytes | None = None, *, prefix: str = "", **fields: str) -> str:
    """Submit the form and return the new task's id.

    The first frame is `frame` uploaded as a PNG, or an https URL when no frame is given.
    """
    data = {**VALID_FORM, **fields}
    files = None
    if frame is None:
        data.setdefault("first_frame_url", FRAME_URL)
    else:
        files = {"first_frame": ("frame.png", frame, "image/png")}
    response = console.post(f"{prefix}/tasks", data=data, files=files)
    assert response.status_code == 303, response.text
    return response.headers["location"].rsplit("/", 1)[1]


class FakeClock:
    """A clock for the console that moves only when the test says so (callable like time.time)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def advance_to(self, moment: float) -> None:
        self.now = max(self.now, moment)


# Argon2 at its real cost is a fifth of a second of CPU for each hash and each login, hundreds of
# them in the suite: consoles in tests hash and check with one pass over 64 KiB, as they run on a
# clock they can move (the real parameters have tests of their own in test_passwords.py).
TEST_PASSWORDS = AccountPasswords(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def add_account(data_dir: Path, name: str, password: str) -> None:
    """Create a named account in a data dir, as `runway-console user add` does."""
    from app.auth_store import SqliteAuthStore
    from app.storage import database_path

    store = SqliteAuthStore(database_path(data_dir))
    try:
        assert store.add_account(name, TEST_PASSWORDS.hash(password))
    finally:
        store.close()


@functools.cache
def real_mp4(seconds: int = 1, ratio: str = "1280:720") -> bytes:
    """A small real H.264 mp4, as a CDN would send one (made once per process by the simulator's renderer)."""
    from app.simulator.video import render_video

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "video.mp4"
        frame = Image.open(io.BytesIO(image_bytes(320, 180)))
        render_video(frame, None, ratio, seconds, path, max_side=128, fps=12)
        return path.read_bytes()
