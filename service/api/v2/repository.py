"""The Open Inference Protocol's repository extension: index, load and unload, as Triton's.

``tritonclient``'s ``get_model_repository_index``, ``load_model`` and ``unload_model`` work
unchanged. Load and unload are allowed in the ``explicit`` model control mode only (Triton
answers the same 400 in its other modes); a load applies the model's version policy, so loading a
model whose folder gained a version swaps to it without losing a request (``lifecycle.py``).
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from contract import layout
from service.api.deps import EngineDep
from service.api.v2.errors import V2Route
from service.api.v2.schemas import ErrorResponse
from service.errors import ModelControlError
from service.inference.engine import Engine
from service.inference.registry import ModelVersions

TAGS: list[str | Enum] = ["v2 (Open Inference Protocol)"]
router = APIRouter(prefix="/v2/repository", tags=TAGS, route_class=V2Route)
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (400, 404)}


class RepositoryModel(BaseModel):
    """One model version of the repository index (Triton's fields)."""

    name: str
    version: str = Field(default="", description="empty for a model with no version loaded")
    state: str = Field(description="READY | LOADING | UNAVAILABLE")
    reason: str = ""


@router.post("/index", response_model=list[RepositoryModel], responses=_ERRORS)
async def repository_index(engine: EngineDep) -> list[RepositoryModel]:
    """Every model folder and every version the service tried, with its state and reason."""
    entries = {e.name: e for e in engine.registry.entries()}
    names = sorted(set(entries) | set(layout.model_names(engine.settings.model_dir)))
    return [row for name in names for row in _rows(name, entries.get(name))]


@router.post("/models/{name}/load", responses=_ERRORS)
async def load_model(name: str, request: Request, engine: EngineDep) -> dict[str, str]:
    """Load ``name`` as its version policy says (explicit mode), swapping without loss."""
    _check_explicit(engine, "load")
    await request.body()  # Triton's optional parameters (config overrides) are not supported
    await engine.lifecycle.load(name)
    return {}


@router.post("/models/{name}/unload", responses=_ERRORS)
async def unload_model(name: str, engine: EngineDep) -> dict[str, str]:
    """Unload every version of ``name`` (explicit mode): queued requests finish, memory is freed."""
    _check_explicit(engine, "unload")
    await engine.lifecycle.unload(name)
    return {}


def _rows(name: str, entry: ModelVersions | None) -> list[RepositoryModel]:
    if entry is None:
        return [RepositoryModel(name=name, state="UNAVAILABLE", reason="unloaded")]
    rows = [RepositoryModel(name=name, version=str(v), state="READY") for v in entry.serving]
    rows += [
        RepositoryModel(name=name, version=str(v), state="UNAVAILABLE", reason=m.reason or "")
        for v, (m, _) in entry.failed.items()
    ]
    if entry.loading is not None:
        rows.append(RepositoryModel(name=name, version=str(entry.loading.version or ""),
                                    state="LOADING"))  # fmt: skip
    if not rows:
        rows.append(RepositoryModel(name=name, state="UNAVAILABLE", reason="no version serves"))
    return sorted(rows, key=lambda r: (r.version.zfill(20), r.state))


def _check_explicit(engine: Engine, what: str) -> None:
    mode = engine.settings.model_control_mode
    if mode != "explicit":
        raise ModelControlError(
            f"explicit model {what} is not allowed in model control mode {mode!r}; "
            "start the service with MMS_MODEL_CONTROL_MODE=explicit"
        )
