"""The simulator's ASGI app: its routes, its state on `app.state.simulator`, and its shutdown."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from app.catalogue import Catalogue
from app.simulator.http import EXCEPTION_HANDLERS, ROUTES
from app.simulator.settings import SimulatorSettings
from app.simulator.tasks import Simulator


def create_simulator_app(
    catalogue: Catalogue,
    settings: SimulatorSettings,
    workdir: Path,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> Starlette:
    """The simulated API; its state lives on `app.state.simulator`, ready before any request."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            # close() waits for a render in progress; keep the event loop free meanwhile.
            await run_in_threadpool(app.state.simulator.close)

    app = Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    app.state.simulator = Simulator(catalogue, settings, workdir, clock=clock, wall=wall)
    return app
