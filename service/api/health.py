"""Liveness and readiness probes (open without an API key)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.api.deps import EngineDep

router = APIRouter(prefix="/health", tags=["health"])


class LiveResponse(BaseModel):
    """The process answers."""

    status: str = "live"


class ModelReadiness(BaseModel):
    """One model's state in the readiness report."""

    state: str
    version: int | None
    providers: list[str]
    reason: str | None = None


class ReadyResponse(BaseModel):
    """Readiness: every model loaded and warmed."""

    ready: bool
    models: dict[str, ModelReadiness]


@router.get("/live", response_model=LiveResponse)
async def live() -> LiveResponse:
    """Liveness: 200 while the process serves HTTP."""
    return LiveResponse()


@router.get("/ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
async def ready(engine: EngineDep) -> JSONResponse:
    """Readiness: 200 when every model is loaded and warmed, else 503 with each model's state."""
    models = {
        m.name: ModelReadiness(
            state=m.state.value, version=m.version, providers=m.providers, reason=m.reason
        )
        for m in engine.models()
    }
    body = ReadyResponse(ready=engine.ready, models=models)
    headers = None if body.ready else {"Retry-After": str(engine.settings.retry_after_s)}
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503, headers=headers)
