"""Model discovery: what is loaded, its inputs, heads, labels, metrics and execution provider."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from contract.manifest import InputSpec, OutputSpec
from service.api.deps import EngineDep
from service.api.routing import ServiceRoute
from service.inference.engine import Engine
from service.inference.served import ServedModel

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=ServiceRoute)


class BatchingInfo(BaseModel):
    """The model's batch limit and what its dynamic batcher did since start."""

    max_batch_size: int = Field(description="items per ONNX Runtime call, at most")
    concurrent_batches: int = Field(description="batches of this model run at the same time")
    autotune_ms_per_item: dict[int, float] = Field(
        default_factory=dict,
        description="warm-up timing per item by batch size that chose max_batch_size "
        "(empty when autotuning is off)",
    )
    intra_op_threads: int | None = Field(
        default=None,
        description="ONNX Runtime intra-op threads autotuning chose (0: every core; 1: one per "
        "batch, batches side by side); null when not timed (a setting fixes them, or a GPU)",
    )
    autotune_ms_one_item_by_threads: dict[int, float] = Field(
        default_factory=dict, description="warm-up timing of one item by intra-op threads"
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
    state: str = Field(description="loading | ready | failed (of `version`)")
    reason: str | None = Field(default=None, description="why the model failed")
    version: int | None = Field(
        description="the version a request without `version` gets (the highest that serves)"
    )
    versions: list[int] = Field(description="the version directories in the repository")
    serving_versions: list[int] = Field(
        default_factory=list, description="versions that serve now (`version` on a request)"
    )
    failed_versions: dict[int, str] = Field(
        default_factory=dict, description="versions that failed to verify, load or warm: why"
    )
    version_policy: str = Field(default="", description="latest:N | all | specific:1,2")
    providers: list[str] = Field(description="ONNX Runtime execution providers in use")
    precision: str | None = Field(
        default=None, description="fp32 | int8: the file of `version` that serves (MMS_PRECISION)"
    )
    precisions: list[str] = Field(
        default_factory=list, description="what `version` can serve: fp32 and its gated variants"
    )
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
    return ModelList(models=[model_info(m, engine) for m in engine.models()])


@router.get("/{name}", response_model=ModelInfo)
async def get_model(name: str, engine: EngineDep) -> ModelInfo:
    """One model's versions, inputs, heads with labels, metrics and provider."""
    return model_info(engine.get(name), engine)


def model_info(model: ServedModel, engine: Engine) -> ModelInfo:
    """Describe one model (manifest fields stay empty until it is read)."""
    entry = engine.registry.entry(model.name)
    info = ModelInfo(
        name=model.name, state=model.state.value, reason=model.reason, version=model.version,
        versions=model.versions, providers=model.providers, precision=model.precision,
        load_seconds=model.load_seconds,
        batching=_batching(model),
        serving_versions=sorted(entry.serving) if entry else [],
        failed_versions={v: m.reason or "" for v, (m, _) in entry.failed.items()} if entry else {},
        version_policy=str(engine.settings.policy_for(model.name)),
    )  # fmt: skip
    manifest = model.manifest_or_none
    if manifest is None:
        return info
    return info.model_copy(
        update={
            "kind": manifest.kind,
            "description": manifest.description,
            "modalities": sorted(manifest.modalities),
            "precisions": manifest.precisions,
            "inputs": manifest.inputs,
            "heads": manifest.outputs,
            "metrics": manifest.metrics,
            "parity": manifest.parity,
        }
    )


def _batching(model: ServedModel) -> BatchingInfo | None:
    config, stats = model.batcher_config, model.stats
    if config is None or stats is None:
        return None
    return BatchingInfo(
        max_batch_size=config.max_batch_size,
        concurrent_batches=config.concurrency,
        autotune_ms_per_item=model.profile.per_item_ms if model.profile else {},
        intra_op_threads=model.threads.intra_op_threads if model.threads else None,
        autotune_ms_one_item_by_threads=model.threads.one_item_ms if model.threads else {},
        batches=stats.batches, items=stats.items, largest_batch=stats.largest_batch,
        failed_batches=stats.failed_batches, rejected=stats.rejected, timeouts=stats.timeouts,
        queue_depth=model.queue_depth, sizes=dict(stats.sizes),
    )  # fmt: skip
