"""Fixtures for the simulator's tests: a fake clock and wall clock, and the app built on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from app.catalogue import Catalogue
from app.simulator import SimulatorSettings, create_simulator_app
from tests.simulator.support import CATALOGUE, Client, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(1_731_678_890.8)


# make_client and client deliberately override the console's fixtures of the same names here.
@pytest.fixture
def make_client(tmp_path: Path, clock: FakeClock, wall: FakeClock) -> Iterator[Callable[..., Client]]:
    apps: list[Starlette] = []

    def make(catalogue: Catalogue = CATALOGUE, **settings: Any) -> Client:
        values = {"pending_seconds": 1.0, "running_seconds": 2.0, "video_max_side": 128, **settings}
        app = create_simulator_app(catalogue, SimulatorSettings(**values), tmp_path / "sim", clock=clock, wall=wall)
        apps.append(app)
        return Client(app)

    yield make
    for app in apps:
        app.state.simulator.close()


@pytest.fixture
def client(make_client: Callable[..., Client]) -> Client:
    return make_client()
