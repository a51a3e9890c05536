"""Typed dependencies: how handlers reach the lifespan's shared resources and the request's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, Request

from app.catalogue import Catalogue
from app.config import Settings
from app.i18n import LANGUAGE_COOKIE, Translator, choose_language
from app.poller import TaskPoller
from app.storage import FrameStore, TaskStore, VideoStore
from app.upstream import UpstreamClient


@dataclass(frozen=True)
class Services:
    """Everything the lifespan opens and closes; handed to requests as lifespan state."""

    store: TaskStore
    frames: FrameStore
    videos: VideoStore
    upstream: UpstreamClient
    poller: TaskPoller
    image_slots: CapacityLimiter


def get_services(request: Request) -> Services:
    return request.state.services


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_catalogue(request: Request) -> Catalogue:
    return request.app.state.catalogue


def get_translator(request: Request) -> Translator:
    """The page language, chosen once per request and cached on it."""
    cached = getattr(request.state, "translator", None)
    if cached is None:
        lang = choose_language(
            request.query_params.get("lang"),
            request.cookies.get(LANGUAGE_COOKIE),
            request.headers.get("accept-language"),
            request.app.state.settings.default_language,
        )
        cached = request.state.translator = Translator(lang)
    return cached


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


SettingsDep = Annotated[Settings, Depends(get_settings)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]
TranslatorDep = Annotated[Translator, Depends(get_translator)]
StoreDep = Annotated[TaskStore, Depends(get_store)]
UpstreamDep = Annotated[UpstreamClient, Depends(get_upstream)]
FramesDep = Annotated[FrameStore, Depends(get_frames)]
ImageSlotsDep = Annotated[CapacityLimiter, Depends(get_image_slots)]
VideosDep = Annotated[VideoStore, Depends(get_videos)]
PollerDep = Annotated[TaskPoller, Depends(get_poller)]
