"""Crash safety: the console as a real process (`runway-console serve`), SIGKILLed while it submits,
while it polls and while it downloads a video, then restarted on the same data dir.

The upstream is the fake upstream on loopback in this process, so it outlives every kill and knows
exactly which tasks it accepted. Afterwards: every accepted task is in the console (or, if the kill
fell between the upstream's answer and the console's commit, recorded as interrupted), every video
served is byte-identical to the upstream's, the database passes `PRAGMA integrity_check`, and no
`.part` file is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.task_submission import INTERRUPTED_ID_PREFIX
from tests.fake_upstream import FakeUpstream, mp4_box
from tests.helpers import VALID_FORM, answers_ok, image_bytes, wait_until

TASKS = 30
SEED = 20261128
# Half a megabyte, streamed in 32 KiB pieces 8 ms apart: a download lasts long enough to be killed in.
VIDEO = mp4_box(b"ftyp", b"isom\x00\x00\x02\x00isom") + mp4_box(b"moov", b"\x01" * 512) + mp4_box(
    b"mdat", random.Random(SEED).randbytes(512 * 1024)
)
CHUNK = 32 * 1024


class SlowUpstream(FakeUpstream):
    """The fake upstream, slow enough at each step for a kill to land inside it, counting what is in flight.

    A create records the task *before* its answer is delayed: a console killed meanwhile has had
    its task accepted without learning the id, the window the console's intent rows are for.
    While a route is `held`, its calls stop there (a create once recorded, a download half-sent) until
    the test lets go: the kill lands inside the window however slowly a loaded machine runs the test.
    """

    def __init__(self) -> None:
        super().__init__()
        self.video = VIDEO
        self.in_flight: Counter[str] = Counter()
        self.held: set[str] = set()
        self.prompts: dict[str, str] = {}  # task id → the prompt it was created with
        self.lock = threading.Lock()

    async def _wait_while_held(self, route: str) -> None:
        while route in self.held:
            await asyncio.sleep(0.005)

    def _enter(self, route: str) -> None:
        with self.lock:
            self.in_flight[route] += 1

    def _leave(self, route: str) -> None:
        with self.lock:
            self.in_flight[route] -= 1

    async def create(self, request: Request) -> Response:
        self._enter("create")
        try:
            answer = await super().create(request)
            task_id = json.loads(bytes(answer.body))["id"]
            self.prompts[task_id] = json.loads(self.requests[-1].body).get("promptText", "")
            await asyncio.sleep(0.05)
            await self._wait_while_held("create")
            return answer
        finally:
            self._leave("create")

    async def get(self, request: Request) -> Response:
        self._enter("get")
        try:
            await asyncio.sleep(0.02)
            return await super().get(request)
        finally:
            self._leave("get")

    async def cdn(self, request: Request) -> Response:
        await self._record(request)

        async def pieces() -> Iterator[bytes]:
            entered = False
            try:
                for number, start in enumerate(range(0, len(self.video), CHUNK)):
                    yield self.video[start : start + CHUNK]
                    if number == 1:  # the console has the file open and half-written from here on
                        self._enter("cdn")
                        entered = True
                        await self._wait_while_held("cdn")
                    await asyncio.sleep(0.008)
            finally:
                if entered:
                    self._leave("cdn")

        return StreamingResponse(pieces(), media_type="video/mp4", headers={"content-length": str(len(self.video))})


class ConsoleProcess:
    """`runway-console serve` on a loopback port, started and SIGKILLed at will, on one data dir."""

    def __init__(self, workdir: Path, upstream_url: str, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "CONSOLE_DATA_DIR": str(workdir / "data"),
            "RUNWAYML_BASE_URL": upstream_url,
            "RUNWAYML_API_SECRET": "hk-crash-test",
            "CONSOLE_POLL_INTERVAL": "0.1",
            "CONSOLE_UPSTREAM_BACKOFF": "0.01",
            "CONSOLE_UPSTREAM_RPS": "1000",
            # Generous: a held create waits for the test, and a loaded machine is slow.
            "CONSOLE_UPSTREAM_TIMEOUT": "30",
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        executable = Path(sys.executable).with_name("runway-console")
        for _attempt in range(3):
            log = open(self.workdir / f"console-{self.starts}.log", "wb")  # noqa: SIM115 - the process writes it
            self.process = subprocess.Popen(
                [str(executable), "serve", "--port", str(self.port)],
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.starts += 1
            wait_until(self.is_up_or_exited, timeout=30, step=0.05)
            if self.process.poll() is None:
                return
            # Another test process took the port between our probe and the bind: try another.
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        pytest.fail("the console did not start; see console-*.log")

    def is_up_or_exited(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            return True
        return answers_ok(f"{self.url}/healthz")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Submitter(threading.Thread):
    """Submits TASKS forms one after another, as a person would, whatever happens to the console."""

    def __init__(self, console: ConsoleProcess) -> None:
        super().__init__(daemon=True)
        self.console = console
        self.outcomes: dict[str, str] = {}  # prompt → task id, or "lost connection"
        self.frame = image_bytes(96, 64)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            for number in range(TASKS):
                prompt = f"crash test {number}"
                data = {**VALID_FORM, "promptText": prompt}
                # Every other task uploads its frame: frame files are written on the way too.
                files = {"first_frame": ("f.png", self.frame, "image/png")} if number % 2 else None
                if files is None:
                    data["first_frame_url"] = "https://cdn.example.com/frame.png"
                try:
                    answer = client.post(f"{self.console.url}/tasks", data=data, files=files)
                    assert answer.status_code == 303, answer.text[:500]
                    self.outcomes[prompt] = answer.headers["location"].rsplit("/", 1)[1]
                except httpx.TransportError:
                    self.outcomes[prompt] = "lost connection"
                    self._wait_for_console()

    def _wait_for_console(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not answers_ok(f"{self.console.url}/healthz"):
            time.sleep(0.05)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def upstream(serve) -> SlowUpstream:
    fake = SlowUpstream()
    fake.base_url = serve(fake.app).url
    return fake


@pytest.fixture
def console(tmp_path, upstream) -> Iterator[ConsoleProcess]:
    process = ConsoleProcess(tmp_path, upstream.api_url, free_port())
    yield process
    process.stop()


def kill_when(
    console: ConsoleProcess,
    upstream: SlowUpstream,
    route: str,
    rng: random.Random,
    *,
    hold: bool = False,
    also: Callable[[], object] = lambda: True,
) -> None:
    """SIGKILL the console at a random moment while it has a `route` call open at the upstream (held
    there until the kill when `hold`, once `also` holds too)."""
    if hold:
        upstream.held.add(route)
    try:
        wait_until(lambda: upstream.in_flight[route] > 0 and also(), timeout=30, step=0.002)
        time.sleep(rng.uniform(0, 0.01))
        console.kill()
    finally:
        upstream.held.discard(route)


def part_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.rglob("*.part"))


@pytest.mark.long
def test_sigkill_while_submitting_polling_and_downloading_loses_nothing(console, upstream, tmp_path):
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    console.start()
    submitter = Submitter(console)
    submitter.start()

    kill_when(console, upstream, "create", rng, hold=True)  # the upstream has the task, the console not yet
    console.start()
    kill_when(console, upstream, "get", rng)
    console.start()
    kill_when(console, upstream, "cdn", rng, hold=True, also=lambda: part_files(data_dir))
    stale = part_files(data_dir)
    assert stale, "the kill was meant to land inside a download"
    console.start()
    assert not any(part.exists() for part in stale)  # cleared at start-up (the download starts over)

    submitter.join(timeout=60)
    assert not submitter.is_alive()
    assert len(submitter.outcomes) == TASKS

    db = sqlite3.connect(data_dir / "console.db")
    db.row_factory = sqlite3.Row

    def unsettled() -> list[str]:
        rows = db.execute("SELECT id, status, video_file FROM tasks").fetchall()
        return [r["id"] for r in rows if not (r["status"] == "FAILED" or r["video_file"])]

    wait_until(lambda: not unsettled(), timeout=60)
    rows = {r["id"]: r for r in db.execute("SELECT id, prompt, status, failure_code FROM tasks")}
    db.close()

    # Every task the upstream accepted is known to the console, or (killed between the upstream's
    # answer and our commit) recorded as interrupted under the prompt it was sent with.
    interrupted = {r["prompt"] for r in rows.values() if r["id"].startswith(INTERRUPTED_ID_PREFIX)}
    lost = {task_id: prompt for task_id, prompt in upstream.prompts.items() if task_id not in rows}
    assert set(lost.values()) <= interrupted, lost
    assert lost, "the first kill was meant to fall between the upstream's acceptance and the console's commit"
    # A submission cut off before it reached the upstream is one whose sender saw the connection drop.
    cut_off = {prompt for prompt, outcome in submitter.outcomes.items() if outcome == "lost connection"}
    assert {f"crash test {n}" for n in range(TASKS)} - set(upstream.prompts.values()) <= cut_off
    # What the submitter was told was created is there, and succeeded with a whole video.
    told = {prompt: task_id for prompt, task_id in submitter.outcomes.items() if task_id != "lost connection"}
    assert len(told) >= TASKS - 3  # at most the three kills cut a submission off
    with httpx.Client(base_url=console.url, timeout=10) as client:
        for task_id, row in rows.items():
            if task_id.startswith(INTERRUPTED_ID_PREFIX):
                assert row["status"] == "FAILED" and row["failure_code"] == "CONSOLE.SUBMISSION_INTERRUPTED"
                page = client.get(f"/tasks/{task_id}")
                assert page.status_code == 200 and "stopped while sending this task upstream" in page.text
                continue
            assert row["status"] == "SUCCEEDED", (task_id, row["status"])
            video = client.get(f"/tasks/{task_id}/video.mp4")
            assert video.status_code == 200 and video.content == VIDEO, task_id
        for prompt, task_id in told.items():
            assert rows[task_id]["prompt"] == prompt

    console.stop()
    db = sqlite3.connect(data_dir / "console.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
    db.close()
    assert part_files(data_dir) == []
    assert console.starts >= 4


# --- the intent row, in process ---------------------------------------------------------------------


def leftover_submission(data_dir: Path, prompt: str) -> None:
    """What a console killed mid-submission leaves: an intent row and no task."""
    from app.catalogue import load_catalogue
    from app.storage import SqliteTaskStore
    from app.task_submission import Frame, TaskSubmission, interrupted_submission

    model = load_catalogue().get("gen4_turbo")
    assert model is not None
    submission = TaskSubmission(
        model=model, ratio="1280:720", duration=5, seed=7, seed_rolled=False, prompt=prompt, watermark=False,
        notify_hook=None, frames=[Frame("first", url="https://cdn.example.com/frame.png")],
    )
    store = SqliteTaskStore(data_dir / "console.db")
    store.begin_submission("abc123", interrupted_submission("abc123", submission, {}, now=1_800_000_000.0))
    store.close()


def test_a_submission_cut_off_by_a_restart_is_shown_as_interrupted(open_console, fake_upstream, tmp_path):
    data_dir = tmp_path / "data"
    leftover_submission(data_dir, "a cat, cut off")
    console = open_console(fake_upstream, CONSOLE_DATA_DIR=data_dir)

    page = console.get(f"/tasks/{INTERRUPTED_ID_PREFIX}abc123")
    assert page.status_code == 200
    assert "The console was stopped while sending this task upstream." in page.text
    assert "CONSOLE.SUBMISSION_INTERRUPTED" in page.text and "a cat, cut off" in page.text
    zh = console.get(f"/tasks/{INTERRUPTED_ID_PREFIX}abc123", headers={"Accept-Language": "zh-CN"})
    assert "向上游提交该任务时，控制台被中断了。" in zh.text
    task = console.get(f"/tasks/{INTERRUPTED_ID_PREFIX}abc123", headers={"Accept": "application/json"}).json()
    assert task["status"] == "FAILED" and task["promptText"] == "a cat, cut off"
    assert fake_upstream.requests == []  # nothing is asked upstream about a task without an upstream id
    assert console.get(f"/tasks/{INTERRUPTED_ID_PREFIX}abc123/status").status_code == 286


def test_a_refused_submission_leaves_no_intent_and_an_accepted_one_replaces_its_intent(
    open_console, fake_upstream, tmp_path
):
    data_dir = tmp_path / "data"
    console = open_console(fake_upstream, CONSOLE_DATA_DIR=data_dir)
    fake_upstream.queue("create", status=400, body='{"error": "Invalid ratio"}')
    refused = console.post("/tasks", data={**VALID_FORM, "first_frame_url": "https://cdn.example.com/f.png"})
    assert refused.status_code == 422
    accepted = console.post("/tasks", data={**VALID_FORM, "first_frame_url": "https://cdn.example.com/f.png"})
    assert accepted.status_code == 303
    db = sqlite3.connect(data_dir / "console.db")
    assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
    assert [row[0] for row in db.execute("SELECT id FROM tasks")] == [accepted.headers["location"].rsplit("/", 1)[1]]
    db.close()


def test_a_form_the_console_cannot_record_is_not_sent_and_says_so(open_console, fake_upstream, tmp_path):
    data_dir = tmp_path / "data"
    console = open_console(fake_upstream, CONSOLE_DATA_DIR=data_dir, CONSOLE_DB_BUSY_TIMEOUT=0.2)
    blocker = sqlite3.connect(data_dir / "console.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the intent row cannot be written
    try:
        answer = console.post("/tasks", data={**VALID_FORM, "first_frame_url": "https://cdn.example.com/f.png"})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert answer.status_code == 503
    assert "could not save this task, so it did not send it upstream" in answer.text
    assert "waves roll in" in answer.text  # the values are kept
    assert fake_upstream.requests == []


def test_a_console_restart_does_not_lose_the_built_in_simulators_tasks(open_console, tmp_path, png):
    from tests.helpers import create_task

    data_dir = tmp_path / "data"
    first = open_console(CONSOLE_DATA_DIR=data_dir, SIMULATOR_RUNNING_SECONDS=600)
    running = create_task(first, png, promptText="runs for ten minutes")
    first.__exit__(None, None, None)  # the console stops; the simulator inside it too

    second = open_console(CONSOLE_DATA_DIR=data_dir, SIMULATOR_RUNNING_SECONDS=0.3)
    wait_until(lambda: second.get(f"/tasks/{running}/status").status_code == 286, timeout=20)
    task = second.get(f"/tasks/{running}", headers={"Accept": "application/json"}).json()
    assert task["gone"] is False  # the simulator still knows it…
    assert (task["status"], task["failureCode"]) == ("FAILED", "INTERNAL")  # …and says why it ended
    assert "restarted while this task was running" in task["failure"]
