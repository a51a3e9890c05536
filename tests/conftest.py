"""Shared fixtures: isolated settings, the console under TestClient, real servers on loopback, images."""

from __future__ import annotations

import io
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.clock import Clock, system_clock
from app.config import Settings
from app.netguard import AsyncResolver
from tests.fake_upstream import FakeUpstream, started
from tests.helpers import SECRET, TEST_PASSWORDS, CliResult, LiveServer, console_dns, image_bytes

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

ENV_PREFIXES = ("RUNWAYML_", "CONSOLE_", "SIMULATOR_")

# Fast enough that a whole task life takes about a second in tests.
FAST = {
    "CONSOLE_POLL_INTERVAL": 0.2,
    "SIMULATOR_PENDING_SECONDS": 0.2,
    "SIMULATOR_RUNNING_SECONDS": 0.6,
    "SIMULATOR_VIDEO_MAX_SIDE": 128,
    "SIMULATOR_VIDEO_FPS": 8,
    "CONSOLE_UPSTREAM_BACKOFF": 0.01,
    "CONSOLE_UPSTREAM_TIMEOUT": 5,
    # The default paces upstream calls 0.1 s apart; tests of the pace set their own.
    "CONSOLE_UPSTREAM_RPS": 1000,
}


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer's real key, base URL or .env reaches a test."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[..., CliResult]:
    """Run the command line (app.cli.main) in this process, with env vars, stdin and the test's data dir:
    what tests.helpers.run_cli does in a new process, without its second of start-up CPU."""
    from app.cli import main

    def run(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> CliResult:
        monkeypatch.setenv("CONSOLE_DATA_DIR", str(tmp_path / "data"))
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        try:
            status = main(list(args))
        except SystemExit as exit_:  # argparse's --help and usage errors
            status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        out, err = capsys.readouterr()
        return CliResult(status, out, err)

    return run


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test: fast timings, a private data dir, overrides by env-var name."""

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {"CONSOLE_DATA_DIR": tmp_path / "data", **FAST, **overrides}
        return Settings(_env_file=None, **values)

    return build


@pytest.fixture
def open_console(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Open a console (lifespan included) in front of `upstream`: a FakeUpstream, or None for the
    built-in simulator. Settings are overridden by env-var name; `clock` is the console's "now".
    DNS is the fake `console_dns` unless a test gives its own `resolver`.
    Every console opened is closed at the end of the test."""
    from app.main import create_app

    opened: list[TestClient] = []

    def open_(
        upstream: FakeUpstream | None = None,
        *,
        clock: Clock = system_clock,
        resolver: AsyncResolver = console_dns,
        **overrides: object,
    ) -> TestClient:
        if upstream is not None:
            overrides = {"RUNWAYML_BASE_URL": upstream.api_url, "RUNWAYML_API_SECRET": SECRET, **overrides}
        app = create_app(make_settings(**overrides), clock=clock, resolver=resolver, passwords=TEST_PASSWORDS)
        console = TestClient(app, follow_redirects=False)
        console.__enter__()
        opened.append(console)
        return console

    yield open_
    for console in reversed(opened):
        console.__exit__(None, None, None)


@pytest.fixture
def console(open_console: Callable[..., TestClient], fake_upstream: FakeUpstream) -> TestClient:
    """The console in front of the fake upstream."""
    return open_console(fake_upstream)


@pytest.fixture
def sim_console(open_console: Callable[..., TestClient]) -> TestClient:
    """The console with the built-in simulator as its upstream."""
    return open_console()


@pytest.fixture(scope="session")
def winding_down() -> Iterator[list[LiveServer]]:
    """Servers told to stop at the end of their test, joined once at the end of the session."""
    servers: list[LiveServer] = []
    yield servers
    for server in servers:
        server.join()


@pytest.fixture
def serve(winding_down: list[LiveServer]) -> Iterator[Callable[..., LiveServer]]:
    """Start any ASGI app on loopback for the test; stopped afterwards.

    Each server has its own port and its console is closed first, so the next test need not wait
    for uvicorn's shutdown ticks: that wait was a fifth of a second in most tests of the suite."""
    servers: list[LiveServer] = []

    def start(app: object) -> LiveServer:
        server = LiveServer(app).start()
        servers.append(server)
        return server

    yield start
    for server in reversed(servers):
        server.ask_to_stop()
    winding_down.extend(servers)


@pytest.fixture
def fake_upstream(serve: Callable[..., LiveServer]) -> FakeUpstream:
    """The programmable fake upstream on loopback; its `api_url` is what a console is pointed at."""
    return started(serve)


@pytest.fixture
def png() -> bytes:
    return image_bytes()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `long` first, so that no worker starts one near the end while the others idle."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With `--dist loadscope`, browser modules go whole to one worker and other tests one by one."""
    if config.getoption("dist") != "loadscope":
        return None
    from tests.scheduling import BrowserModulesTogether

    return BrowserModulesTogether(config, log)
