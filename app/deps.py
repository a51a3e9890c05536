"""Typed dependencies: how handlers reach the lifespan's shared resources and the request's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, HTTPException, Request

from app.account import AccountCache
from app.api_tokens import RateLimiter, TokenRegistry
from app.api_uploads import ApiUploads
from app.auth import Access, Gate, Principal
from app.catalogue import Catalogue
from app.clock import Clock
from app.config import Settings
from app.i18n import Translator
from app.media import VideoStore
from app.poller import TaskPoller
from app.rendering import request_translator
from app.signing import UrlSigner
from app.storage import FrameStore, TaskStore
from app.tasks import TaskRecord, is_task_id
from app.upstream import ErrorKind, UpstreamClient, UpstreamError


@dataclass(frozen=True)
class Services:
    """Everything the lifespan opens and closes; handed to requests as lifespan state."""

    store: TaskStore
    frames: FrameStore
    videos: VideoStore
    upstream: UpstreamClient
    poller: TaskPoller
    image_slots: CapacityLimiter
    clock: Clock
    gate: Gate


@dataclass(frozen=True)
class ApiServices:
    """What the Runway-compatible API adds: its tokens, their rate limit, URL signing, the account cache."""

    tokens: TokenRegistry
    rate: RateLimiter
    signer: UrlSigner
    account: AccountCache
    uploads: ApiUploads


def get_api_services(request: Request) -> ApiServices:
    api: ApiServices = request.state.api
    return api


def get_services(request: Request) -> Services:
    services: Services = request.state.services
    return services


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue


get_translator = request_translator


def get_store(services: Annotated[Services, Depends(get_services)]) -> TaskStore:
    return services.store


def get_upstream(services: Annotated[Services, Depends(get_services)]) -> UpstreamClient:
    return services.upstream


def get_frames(services: Annotated[Services, Depends(get_services)]) -> FrameStore:
    return services.frames


def get_videos(services: Annotated[Services, Depends(get_services)]) -> VideoStore:
    return services.videos


def get_image_slots(services: Annotated[Services, Depends(get_services)]) -> CapacityLimiter:
    return services.image_slots


def get_poller(services: Annotated[Services, Depends(get_services)]) -> TaskPoller:
    return services.poller


def get_clock(services: Annotated[Services, Depends(get_services)]) -> Clock:
    return services.clock


def get_gate(services: Annotated[Services, Depends(get_services)]) -> Gate:
    return services.gate


def get_access(request: Request) -> Access:
    """What app/auth.py's guard decided for this request."""
    access: Access = request.state.access
    return access


def get_principal(access: Annotated[Access, Depends(get_access)]) -> Principal:
    """Who is calling; only routes the guard protects use this (they always have one)."""
    if access.principal is None:
        raise HTTPException(401, "login required")
    return access.principal


def get_visible_task(
    task_id: str, store: Annotated[TaskStore, Depends(get_store)], access: Annotated[Access, Depends(get_access)]
) -> TaskRecord:
    """The stored task at {task_id}, or 404 when unknown or another's in private history.

    Every task route loads its task through this (or get_opened_task), so none can forget the check.
    """
    task = store.get(task_id) if is_task_id(task_id) else None
    if task is None or not access.can_see(task):
        raise HTTPException(404, "unknown task")
    return task


async def get_opened_task(
    task_id: str,
    store: Annotated[TaskStore, Depends(get_store)],
    poller: Annotated[TaskPoller, Depends(get_poller)],
    access: Annotated[Access, Depends(get_access)],
) -> TaskRecord:
    """Like get_visible_task, but a task id the console has never seen is fetched from the upstream
    once and becomes the opener's."""
    if not is_task_id(task_id):
        raise HTTPException(404, "unknown task")
    task = store.get(task_id)
    if task is None:
        try:
            task = await poller.open_external(task_id, owner=get_principal(access).owner)
        except UpstreamError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                raise HTTPException(404, "unknown task") from None
            raise HTTPException(502, str(error)) from None
    if not access.can_see(task):
        raise HTTPException(404, "unknown task")
    return task


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
TranslatorDep = Annotated[Translator, Depends(get_translator)]
StoreDep = Annotated[TaskStore, Depends(get_store)]
UpstreamDep = Annotated[UpstreamClient, Depends(get_upstream)]
FramesDep = Annotated[FrameStore, Depends(get_frames)]
ImageSlotsDep = Annotated[CapacityLimiter, Depends(get_image_slots)]
VideosDep = Annotated[VideoStore, Depends(get_videos)]
PollerDep = Annotated[TaskPoller, Depends(get_poller)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ApiServicesDep = Annotated[ApiServices, Depends(get_api_services)]
GateDep = Annotated[Gate, Depends(get_gate)]
AccessDep = Annotated[Access, Depends(get_access)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
VisibleTaskDep = Annotated[TaskRecord, Depends(get_visible_task)]
OpenedTaskDep = Annotated[TaskRecord, Depends(get_opened_task)]
