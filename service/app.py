"""The app factory: ``create_app(settings)`` wires the engine, routers, middleware and errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from service import metrics
from service.api import classify, docs, embeddings, gallery, health, models, sentiment, ui, v2
from service.api.errors import install_error_handlers
from service.api.middleware import RequestContextMiddleware
from service.events import Observer
from service.gallery import GalleryConfig, GalleryStore, open_store
from service.gallery.errors import GalleryUnavailableError
from service.inference.admission import Budgets
from service.inference.engine import Engine
from service.loop_lag import watch_loop_lag
from service.settings import Settings

log = logging.getLogger(__name__)

API_VERSION = "0.1.0"
DESCRIPTION = (
    "Multi-task and multimodal models served with ONNX Runtime: classification heads, "
    "sentiment, and image/text embeddings in shared spaces, with dynamic batching."
)


def create_app(settings: Settings | None = None, *, observer: Observer | None = None) -> FastAPI:
    """Build the app. Models load in the background once the lifespan starts.

    Args:
        settings: the configuration; read from ``MMS_*`` environment variables when omitted.
        observer: receives metrics events; a Prometheus ``ServiceMetrics`` when omitted.
    """
    settings = settings or Settings()
    observer = observer or metrics.ServiceMetrics()
    app = FastAPI(
        title="mapping-serve", version=API_VERSION, description=DESCRIPTION,
        lifespan=_lifespan, docs_url=None, redoc_url=None,
    )  # fmt: skip
    app.state.settings = settings
    app.state.observer = observer
    app.state.engine = Engine(settings, observer)
    app.state.budgets = Budgets.create(
        max_bytes=settings.max_inflight_bytes, max_pixels=settings.max_inflight_pixels,
        max_request_pixels=settings.max_request_pixels,
        wait_s=settings.admission_wait_ms / 1000.0, observer=observer,
    )  # fmt: skip
    install_error_handlers(app)
    for module in (health, models, classify, sentiment, embeddings, gallery, docs, metrics, ui):
        app.include_router(module.router)
    app.include_router(v2.health_router)
    app.include_router(v2.router)
    app.include_router(v2.repository_router)
    docs.mount_swagger_assets(app)
    app.add_middleware(RequestContextMiddleware, observer=observer)
    if settings.cors_origins:  # outermost, so preflights and error replies get CORS headers
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "Retry-After", "Retry-After-Ms", "Server-Timing"],
        )  # fmt: skip
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start loading models and open the gallery; on shutdown drain the batchers, close it.
    The event loop's lag is sampled while the app runs (``service.loop_lag``)."""
    engine: Engine = app.state.engine
    await engine.start()
    try:
        app.state.gallery = await asyncio.to_thread(_open_gallery, app.state.settings)
    except BaseException:
        await engine.stop()
        raise
    lag = asyncio.create_task(watch_loop_lag(app.state.observer.loop_lag), name="loop-lag")
    try:
        yield
    finally:
        lag.cancel()
        with suppress(asyncio.CancelledError):
            await lag
        log.info("shutting down: draining the batch queues")
        await engine.stop()
        await asyncio.to_thread(app.state.gallery.close)


def _open_gallery(settings: Settings) -> GalleryStore:
    """The gallery store; a data directory held by another process stops the start, loudly."""
    try:
        return open_store(GalleryConfig.from_settings(settings))
    except GalleryUnavailableError as exc:
        log.critical(
            "cannot open the gallery: %s. Replicas must share a Qdrant server: set "
            "MMS_GALLERY_BACKEND=qdrant and MMS_GALLERY_QDRANT_URL", exc.message,
        )  # fmt: skip
        raise
