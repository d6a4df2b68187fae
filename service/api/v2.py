"""Open Inference Protocol (KServe V2) REST, so Triton's and KServe's clients work unchanged.

Health, server and model metadata, model readiness and inference, over the same registry and
per-model batchers as ``/v1``: a V2 request's batch is split into items that join the model's
dynamic batch with every other request. Extensions: ``binary_tensor_data`` (Triton's binary
bodies), ``classification`` (top-k ``"<value>:<index>:<label>"`` per head) and
``model_configuration`` (``GET .../config``, which ``perf_analyzer`` reads). Each head of a
multi-task model is one output tensor; the request's ``outputs`` selects heads.
"""

from __future__ import annotations

import asyncio
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from contract.manifest import Dim, Manifest
from service.api import v2_codec
from service.api.deps import EngineDep, mark_model
from service.api.errors import request_id_of
from service.api.v2_errors import V2Route
from service.api.v2_infer import (
    OutputPlan,
    decode_request,
    encode_response,
    plan_outputs,
    to_items,
)
from service.api.v2_schemas import (
    ErrorResponse,
    InferRequest,
    InferResponse,
    ModelMetadata,
    ModelReady,
    ServerLive,
    ServerMetadata,
    ServerReady,
    TensorMetadata,
)
from service.errors import ModelNotFoundError, UnsupportedMediaError
from service.inference.engine import Engine
from service.inference.registry import LoadedModel, ModelEntry, ModelState
from service.inference.session import Item
from service.settings import Settings

router = APIRouter(prefix="/v2", tags=["v2 (Open Inference Protocol)"], route_class=V2Route)

PLATFORM = "onnxruntime_onnx"  # what Triton reports for ONNX models
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration"]
HEADER_LENGTH = "inference-header-content-length"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 429, 503, 504)
}
_DATATYPES = v2_codec.MANIFEST_DATATYPES


def _version_string() -> str:
    try:
        return metadata.version("mapping-serve")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@router.get("", response_model=ServerMetadata)
async def server_metadata() -> ServerMetadata:
    """Server metadata: name, version and the protocol extensions implemented."""
    return ServerMetadata(name="mapping-serve", version=_version_string(), extensions=EXTENSIONS)


@router.get("/health/live", response_model=ServerLive)
async def server_live() -> ServerLive:
    """Liveness: 200 while the process serves HTTP."""
    return ServerLive(live=True)


@router.get("/health/ready", response_model=ServerReady, responses={503: {"model": ServerReady}})
async def server_ready(engine: EngineDep) -> JSONResponse:
    """Readiness: 200 when every model is loaded and warmed, else 503."""
    ready = engine.ready
    return JSONResponse(ServerReady(ready=ready).model_dump(), 200 if ready else 503)


def _entry(engine: Engine, request: Request, name: str, version: str | None) -> ModelEntry:
    """The registry entry of ``name``; ``version``, when given, must be the one served."""
    entry = engine.registry.get(name)
    mark_model(request, name)
    if version is not None and version != str(entry.version):
        raise ModelNotFoundError(
            f"model {name!r} has no version {version!r} loaded; it serves version {entry.version}",
            model=name,
        )
    return entry


def _model(engine: Engine, request: Request, name: str, version: str | None) -> LoadedModel:
    _entry(engine, request, name, version)
    return engine.model(name)


def _dims(shape: list[Dim]) -> list[int]:
    return [d if isinstance(d, int) and d > 0 else -1 for d in shape]


def model_metadata(manifest: Manifest) -> ModelMetadata:
    """``$metadata_model_response`` of a manifest (symbolic axes become -1)."""
    return ModelMetadata(
        name=manifest.name, versions=[str(manifest.version)], platform=PLATFORM,
        inputs=[TensorMetadata(name=i.name, datatype=_DATATYPES[i.dtype], shape=_dims(i.shape))
                for i in manifest.inputs],
        outputs=[TensorMetadata(name=o.name, datatype=_DATATYPES[o.dtype], shape=_dims(o.shape))
                 for o in manifest.outputs],
    )  # fmt: skip


@router.get("/models/{name}", response_model=ModelMetadata, responses=_ERRORS)
async def get_model_metadata(name: str, request: Request, engine: EngineDep) -> ModelMetadata:
    """Model metadata: inputs and outputs (one per head) with datatypes and shapes."""
    return model_metadata(_model(engine, request, name, None).manifest)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=_ERRORS)
async def get_model_version_metadata(
    name: str, version: str, request: Request, engine: EngineDep
) -> ModelMetadata:
    """Model metadata of one version (only the served version exists)."""
    return model_metadata(_model(engine, request, name, version).manifest)


def _ready_response(engine: Engine, entry: ModelEntry) -> JSONResponse:
    ready = entry.state is ModelState.READY and entry.name in engine.batchers
    body = ModelReady(name=entry.name, ready=ready).model_dump()
    return JSONResponse(body, 200 if ready else 503)


@router.get("/models/{name}/ready", response_model=ModelReady, responses=_ERRORS)
async def get_model_ready(name: str, request: Request, engine: EngineDep) -> JSONResponse:
    """Model readiness: 200 when the model serves requests, else 503."""
    return _ready_response(engine, _entry(engine, request, name, None))


@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReady,
            responses=_ERRORS)  # fmt: skip
async def get_model_version_ready(
    name: str, version: str, request: Request, engine: EngineDep
) -> JSONResponse:
    """Readiness of one version of a model."""
    return _ready_response(engine, _entry(engine, request, name, version))


def model_config(manifest: Manifest, max_batch_size: int, max_delay_ms: float) -> dict[str, Any]:
    """A Triton-style model configuration (dims without the batch axis), for perf_analyzer."""

    def tensor(name: str, dtype: str, shape: list[Dim]) -> dict[str, Any]:
        return {"name": name, "data_type": f"TYPE_{_DATATYPES[dtype]}", "dims": _dims(shape[1:])}

    return {
        "name": manifest.name, "platform": PLATFORM, "backend": "onnxruntime",
        "max_batch_size": max_batch_size,
        "input": [tensor(i.name, i.dtype, i.shape) for i in manifest.inputs],
        "output": [tensor(o.name, o.dtype, o.shape) for o in manifest.outputs],
        "dynamic_batching": {"max_queue_delay_microseconds": int(max_delay_ms * 1000)},
    }  # fmt: skip


@router.get("/models/{name}/config", responses=_ERRORS)
async def get_model_config(name: str, request: Request, engine: EngineDep) -> dict[str, Any]:
    """Model configuration (Triton's extension): batching limits and tensor dims."""
    manifest = _model(engine, request, name, None).manifest
    settings = engine.settings
    return model_config(manifest, settings.max_items, settings.max_delay_ms)


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema with its ``$defs`` inlined (OpenAPI cannot see ``$defs`` here)."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return dict(resolve(schema))


# The body is read by hand (it may be JSON followed by binary tensors), so its schema is declared.
_INFER_BODY = {"application/json": {"schema": _inline_refs(InferRequest.model_json_schema())}}
_INFER_DOC: dict[str, Any] = {
    "response_model": InferResponse,
    "responses": _ERRORS,
    "openapi_extra": {"requestBody": {"required": True, "content": _INFER_BODY}},
}


async def _infer(engine: Engine, request: Request, name: str, version: str | None) -> Response:
    model = _model(engine, request, name, version)
    if request.headers.get("content-encoding", "identity") != "identity":
        raise UnsupportedMediaError("compressed request bodies are not supported; send identity")
    header, tail = v2_codec.split_body(await request.body(), request.headers.get(HEADER_LENGTH))
    with engine.preparing(name):  # the batcher may wait for these items
        parsed, plans, items = await asyncio.to_thread(
            _decode, model, header, tail, engine.settings
        )
    results = await engine.infer(name, items)
    request_id = parsed.id if parsed.id is not None else request_id_of(request) or ""
    body, header_length = encode_response(model, request_id, plans, results)
    if header_length is None:
        return Response(body, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(header_length)}
    return Response(body, media_type="application/octet-stream", headers=headers)


def _decode(
    model: LoadedModel, header: bytes, tail: bytes, settings: Settings
) -> tuple[InferRequest, list[OutputPlan], list[Item]]:
    """Parse, plan the outputs, and build the items (decoding images): run in a worker thread."""
    parsed, tensors = decode_request(header, tail)
    plans = plan_outputs(model.manifest, parsed)  # a bad output name fails before any work
    return parsed, plans, to_items(model, tensors, settings)


@router.post("/models/{name}/infer", **_INFER_DOC)
async def infer(name: str, request: Request, engine: EngineDep) -> Response:
    """Inference: JSON tensors (or binary tensor data) in, the requested heads out."""
    return await _infer(engine, request, name, None)


@router.post("/models/{name}/versions/{version}/infer", **_INFER_DOC)
async def infer_version(name: str, version: str, request: Request, engine: EngineDep) -> Response:
    """Inference on one version of a model (only the served version exists)."""
    return await _infer(engine, request, name, version)
