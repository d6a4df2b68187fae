"""Typed dependencies: the long-lived objects on ``app.state``, read per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.gallery import GalleryStore
from service.inference.engine import Engine
from service.settings import Settings

# Dependencies are ``async`` on purpose: FastAPI runs a sync dependency in its thread pool,
# which costs two thread hops per request for a mere attribute read.


async def get_engine(request: Request) -> Engine:
    """The app's :class:`Engine` (``app.state.engine``)."""
    engine: Engine = request.app.state.engine
    return engine


async def get_settings(request: Request) -> Settings:
    """The app's :class:`Settings` (``app.state.settings``)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_gallery(request: Request) -> GalleryStore:
    """The app's gallery store (``app.state.gallery``, opened by the lifespan)."""
    gallery: GalleryStore = request.app.state.gallery
    return gallery


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
GalleryDep = Annotated[GalleryStore, Depends(get_gallery)]
