"""Typed dependencies: how handlers reach the lifespan's shared resources and the request's language.

Every dependency here is `async def`: FastAPI runs a plain `def` dependency in the thread pool, and
for a one-line attribute lookup that hop cost ~19% of the status fragment's time in bench/.
"""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request

from app.access import Access, Principal
from app.account import AccountCache
from app.api_tokens import RateLimiter, TokenRegistry
from app.api_uploads import ApiUploads
from app.catalogue import Catalogue
from app.clock import Clock
from app.config import Settings
from app.gate import Gate
from app.i18n import Translator
from app.intake import FrameIntake
from app.media import VideoCache, VideoStore
from app.netguard import AsyncResolver
from app.pixel_budget import PixelBudget
from app.poller import TaskPoller
from app.removal import TaskRemoval
from app.rendering import request_translator
from app.sharing import Sharing
from app.signing import UrlSigner
from app.storage import FrameStore, TaskStore, Visibility, visible_to
from app.tasks import TaskRecord, is_task_id
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError
from app.versions import TaskVersions
from app.visitor_keys import KeyNeeded, UpstreamFor, VisitorKeys

T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    """Everything the lifespan opens and closes; handed to requests as lifespan state."""

    store: TaskStore
    frames: FrameStore
    videos: VideoStore
    upstream: UpstreamClient
    poller: TaskPoller
    decode_budget: PixelBudget
    clock: Clock
    gate: Gate
    versions: TaskVersions
    cache: VideoCache
    sharing: Sharing
    removal: TaskRemoval
    # Which upstream client (so which key) speaks for a task's owner (app/visitor_keys.py).
    upstream_for: UpstreamFor
    # DNS for the checks made at submit time (tests give their own); None is the system's.
    resolver: AsyncResolver | None = None
    # CONSOLE_VISITOR_KEYS: the visitors' keys, in this process's memory only (None in the other modes).
    visitors: VisitorKeys | None = None


@dataclass(frozen=True)
class ApiServices:
    """What the Runway-compatible API adds: its tokens, their rate limit, URL signing, the account cache."""

    tokens: TokenRegistry
    rate: RateLimiter
    signer: UrlSigner
    account: AccountCache
    uploads: ApiUploads


async def get_services(request: Request) -> Services:
    services: Services = request.state.services
    return services


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue


# Called directly by handlers and error pages; TranslatorDep goes through the async wrapper below.
get_translator = request_translator


async def current_translator(request: Request) -> Translator:
    return request_translator(request)


def _service(pick: Callable[[Services], T]) -> Callable[[Request], Coroutine[Any, Any, T]]:
    """A dependency handing over one of the lifespan's shared resources."""

    async def dependency(request: Request) -> T:
        return pick(await get_services(request))

    return dependency


get_store = _service(lambda services: services.store)
get_upstream = _service(lambda services: services.upstream)
get_frames = _service(lambda services: services.frames)
get_videos = _service(lambda services: services.videos)
get_poller = _service(lambda services: services.poller)
get_clock = _service(lambda services: services.clock)
get_gate = _service(lambda services: services.gate)
get_upstream_for = _service(lambda services: services.upstream_for)
get_visitors = _service(lambda services: services.visitors)
get_cache = _service(lambda services: services.cache)
get_sharing = _service(lambda services: services.sharing)
get_removal = _service(lambda services: services.removal)
get_versions = _service(lambda services: services.versions)


async def get_api_services(request: Request) -> ApiServices:
    api: ApiServices = request.state.api
    return api


async def get_frame_intake(
    services: Annotated[Services, Depends(get_services)], settings: Annotated[Settings, Depends(get_settings)]
) -> FrameIntake:
    """How this request takes frames in: the shared pixel budget, the image ceiling, the resolver."""
    return FrameIntake(services.frames, services.decode_budget, settings.max_image_pixels, services.resolver)


async def get_access(request: Request) -> Access:
    """What app/auth.py's guard decided for this request."""
    access: Access = request.state.access
    return access


async def get_principal(access: Annotated[Access, Depends(get_access)]) -> Principal:
    """Who is calling; only routes the guard protects use this (they always have one)."""
    return principal_of(access)


def principal_of(access: Access) -> Principal:
    if access.principal is None:
        raise HTTPException(401, "login required")
    return access.principal


async def get_caller_upstream(
    services: Annotated[Services, Depends(get_services)], access: Annotated[Access, Depends(get_access)]
) -> UpstreamClient | None:
    """The upstream client whose key this caller spends: a visitor's own (None while this process does
    not hold it), else the server's. Never the server's for a visitor."""
    if services.visitors is None:
        return services.upstream
    if not access.is_visitor or access.principal is None:
        return None
    entry = services.visitors.get(access.principal.session_id)
    return entry.upstream if entry is not None else None


async def get_caller_account(
    services: Annotated[Services, Depends(get_services)],
    api: Annotated[ApiServices, Depends(get_api_services)],
    access: Annotated[Access, Depends(get_access)],
) -> AccountCache | None:
    """The upstream account the form's panel shows: the visitor's own in visitor-keys mode, else the server's."""
    if services.visitors is None:
        return api.account
    entry = services.visitors.get(access.principal.session_id) if access.principal is not None else None
    return entry.account if entry is not None else None


async def get_visible_task(
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
            task = await poller.open_external(task_id, owner=principal_of(access).owner)
        except KeyNeeded:
            raise HTTPException(409, "key needed") from None
        except UpstreamError as error:
            if error.kind == ErrorKind.NOT_FOUND:
                raise HTTPException(404, "unknown task") from None
            raise HTTPException(502, str(error)) from None
    if not access.can_see(task):
        raise HTTPException(404, "unknown task")
    return task


async def get_visibility(access: Annotated[Access, Depends(get_access)]) -> Visibility:
    """Which tasks the viewer may see in listings (all of them in shared history)."""
    return visible_to(access.viewer)


async def get_status_version(task_id: str, versions: Annotated[TaskVersions, Depends(get_versions)]) -> str:
    """The task's current status version. A route declares it before its task so that it is read
    first (FastAPI solves parameters in order): a write in between makes the page look older than
    its version says, which the next poll repairs, never newer."""
    if not is_task_id(task_id):
        raise HTTPException(404, "unknown task")
    return versions.current(task_id)


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
TranslatorDep = Annotated[Translator, Depends(current_translator)]
StoreDep = Annotated[TaskStore, Depends(get_store)]
UpstreamDep = Annotated[UpstreamClient, Depends(get_upstream)]
FramesDep = Annotated[FrameStore, Depends(get_frames)]
FrameIntakeDep = Annotated[FrameIntake, Depends(get_frame_intake)]
VideosDep = Annotated[VideoStore, Depends(get_videos)]
PollerDep = Annotated[TaskPoller, Depends(get_poller)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ApiServicesDep = Annotated[ApiServices, Depends(get_api_services)]
GateDep = Annotated[Gate, Depends(get_gate)]
AccessDep = Annotated[Access, Depends(get_access)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
VisibleTaskDep = Annotated[TaskRecord, Depends(get_visible_task)]
OpenedTaskDep = Annotated[TaskRecord, Depends(get_opened_task)]
VersionsDep = Annotated[TaskVersions, Depends(get_versions)]
StatusVersionDep = Annotated[str, Depends(get_status_version)]
CacheDep = Annotated[VideoCache, Depends(get_cache)]
SharingDep = Annotated[Sharing, Depends(get_sharing)]
RemovalDep = Annotated[TaskRemoval, Depends(get_removal)]
VisibilityDep = Annotated[Visibility, Depends(get_visibility)]
UpstreamForDep = Annotated[UpstreamFor, Depends(get_upstream_for)]
VisitorsDep = Annotated[VisitorKeys | None, Depends(get_visitors)]
CallerUpstreamDep = Annotated[UpstreamClient | None, Depends(get_caller_upstream)]
CallerAccountDep = Annotated[AccountCache | None, Depends(get_caller_account)]
