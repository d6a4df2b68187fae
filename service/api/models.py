"""Model discovery: what is loaded, its inputs, heads, labels, metrics and execution provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from contract.manifest import InputSpec, OutputSpec
from service.api.deps import EngineDep
from service.inference.engine import Engine
from service.inference.registry import ModelEntry

router = APIRouter(prefix="/v1/models", tags=["models"])


class BatchingInfo(BaseModel):
    """The model's batch limit and what its dynamic batcher did since start."""

    max_batch_size: int = Field(description="items per ONNX Runtime call, at most")
    concurrent_batches: int = Field(description="batches of this model run at the same time")
    autotune_ms_per_item: dict[int, float] = Field(
        default_factory=dict,
        description="warm-up timing per item by batch size that chose max_batch_size "
        "(empty when autotuning is off)",
    )
    batches: int
    items: int
    largest_batch: int
    failed_batches: int
    rejected: int
    timeouts: int
    queue_depth: int
    sizes: dict[int, int] = Field(description="batch size -> number of batches")


class ModelInfo(BaseModel):
    """One model: state, served version and everything its manifest declares."""

    name: str
    state: str = Field(description="loading | ready | failed")
    reason: str | None = Field(default=None, description="why the model failed")
    version: int | None = Field(description="the version served (the highest)")
    versions: list[int]
    providers: list[str] = Field(description="ONNX Runtime execution providers in use")
    kind: str | None = None
    description: str = ""
    modalities: list[str] = Field(default_factory=list, description="what each item must carry")
    inputs: list[InputSpec] = Field(default_factory=list)
    heads: list[OutputSpec] = Field(default_factory=list, description="outputs, with labels")
    metrics: dict[str, Any] = Field(default_factory=dict)
    parity: dict[str, float] = Field(default_factory=dict)
    load_seconds: float | None = None
    batching: BatchingInfo | None = None


class ModelList(BaseModel):
    """Every model of the repository."""

    models: list[ModelInfo]


@router.get("", response_model=ModelList)
async def list_models(engine: EngineDep) -> ModelList:
    """List every model with its state, version, heads and execution provider."""
    return ModelList(models=[model_info(engine, e) for e in engine.registry.entries()])


@router.get("/{name}", response_model=ModelInfo)
async def get_model(name: str, engine: EngineDep) -> ModelInfo:
    """One model's versions, inputs, heads with labels, metrics and provider."""
    return model_info(engine, engine.registry.get(name))


def model_info(engine: Engine, entry: ModelEntry) -> ModelInfo:
    """Describe one registry entry (manifest fields stay empty until it is read)."""
    manifest = entry.manifest
    info = ModelInfo(
        name=entry.name, state=entry.state.value, reason=entry.reason, version=entry.version,
        versions=entry.versions, providers=entry.providers, load_seconds=entry.load_seconds,
        batching=_batching(engine, entry.name),
    )  # fmt: skip
    if manifest is None:
        return info
    return info.model_copy(
        update={
            "kind": manifest.kind,
            "description": manifest.description,
            "modalities": sorted(manifest.modalities),
            "inputs": manifest.inputs,
            "heads": manifest.outputs,
            "metrics": manifest.metrics,
            "parity": manifest.parity,
        }
    )


def _batching(engine: Engine, name: str) -> BatchingInfo | None:
    batcher = engine.batchers.get(name)
    if batcher is None:
        return None
    stats = batcher.stats
    entry = engine.registry.get(name)
    return BatchingInfo(
        max_batch_size=batcher.config.max_batch_size,
        concurrent_batches=batcher.config.concurrency,
        autotune_ms_per_item=entry.batching.per_item_ms if entry.batching else {},
        batches=stats.batches, items=stats.items, largest_batch=stats.largest_batch,
        failed_batches=stats.failed_batches, rejected=stats.rejected, timeouts=stats.timeouts,
        queue_depth=batcher.queue_depth, sizes=dict(stats.sizes),
    )  # fmt: skip
