"""The simulator's ASGI app: its routes, its state on `app.state.simulator`, and its shutdown."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Unpack

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Mount, Route

from app.catalogue import Catalogue
from app.simulator.cdn import download_output, receive_upload
from app.simulator.faults import FaultInjector, FaultLog, parse_faults
from app.simulator.http import (
    EXCEPTION_HANDLERS,
    RELAY_PREFIX,
    create_task,
    delete_task,
    describe_service,
    get_task,
    show_organization,
    start_upload,
)
from app.simulator.settings import SimulatorSettings
from app.simulator.tasks import Simulator, StandIns

API_ROUTES: list[BaseRoute] = [
    Route("/v1/image_to_video", create_task, methods=["POST"]),
    Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
    Route("/v1/tasks/{task_id}", delete_task, methods=["DELETE"]),
    Route("/v1/organization", show_organization, methods=["GET"]),
    Route("/v1/uploads", start_upload, methods=["POST"]),
    Route("/uploads", receive_upload, methods=["POST"]),
    Route("/outputs/{name}", download_output, methods=["GET"]),
]
# The relay's base URL ends in /runwayml; the official API's is the root. Both answer.
ROUTES: list[BaseRoute] = [
    Route("/", describe_service, methods=["GET"]),
    *API_ROUTES,
    Mount(RELAY_PREFIX, routes=API_ROUTES),
]


def create_simulator_app(
    catalogue: Catalogue,
    settings: SimulatorSettings,
    workdir: Path,
    **stand_ins: Unpack[StandIns],
) -> Starlette:
    """The simulated API; its state lives on `app.state.simulator`, ready before any request.

    `stand_ins` replace the clocks and the network in tests (see `StandIns`).
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await app.state.simulator.notifier.aclose()
            # close() waits for a render in progress; keep the event loop free meanwhile.
            await run_in_threadpool(app.state.simulator.close)

    app = Starlette(routes=ROUTES, exception_handlers=EXCEPTION_HANDLERS, lifespan=lifespan)
    if settings.faults:
        app.state.faults = FaultLog({})
        app.add_middleware(
            FaultInjector,
            rates=parse_faults(settings.faults),
            seed=settings.fault_seed,
            timeout_seconds=settings.fault_timeout_seconds,
            log=app.state.faults,
        )
    app.state.simulator = Simulator(catalogue, settings, workdir, **stand_ins)
    return app
