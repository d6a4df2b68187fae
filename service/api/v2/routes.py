"""Open Inference Protocol (KServe V2) REST, so Triton's and KServe's clients work unchanged.

Health, server and model metadata, model readiness and inference, over the same registry and
per-model batchers as ``/v1``: a V2 request's batch is split into items that join the model's
dynamic batch with every other request. Extensions: ``binary_tensor_data`` (Triton's binary
bodies), ``classification`` (top-k ``"<value>:<index>:<label>"`` per head) and
``model_configuration`` (``GET .../config``, which ``perf_analyzer`` reads). Each head of a
multi-task model is one output tensor; the request's ``outputs`` selects heads.
"""

from __future__ import annotations

from enum import Enum
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from contract.manifest import Dim, Manifest
from service.api.deps import EngineDep
from service.api.errors import request_id_of
from service.api.v2 import codec
from service.api.v2.errors import V2Route
from service.api.v2.infer import (
    OutputPlan,
    decode_request,
    encode_response,
    plan_outputs,
    to_items,
)
from service.api.v2.schemas import (
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
from service.errors import UnsupportedMediaError
from service.inference.engine import Engine
from service.inference.served import ServedModel
from service.inference.session import Inputs
from service.tasks import infer as run_infer

TAGS: list[str | Enum] = ["v2 (Open Inference Protocol)"]
# Health probes stay open (no API key), like /health; every other /v2 route is a V2Route.
health_router = APIRouter(prefix="/v2/health", tags=TAGS)
router = APIRouter(prefix="/v2", tags=TAGS, route_class=V2Route)

PLATFORM = "onnxruntime_onnx"  # what Triton reports for ONNX models
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration", "model_repository"]
HEADER_LENGTH = "inference-header-content-length"
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 429, 503, 504)
}
_DATATYPES = codec.MANIFEST_DATATYPES


def _version_string() -> str:
    try:
        return metadata.version("mapping-serve")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@router.get("", response_model=ServerMetadata)
async def server_metadata() -> ServerMetadata:
    """Server metadata: name, version and the protocol extensions implemented."""
    return ServerMetadata(name="mapping-serve", version=_version_string(), extensions=EXTENSIONS)


@health_router.get("/live", response_model=ServerLive)
async def server_live() -> ServerLive:
    """Liveness: 200 while the process serves HTTP."""
    return ServerLive(live=True)


@health_router.get("/ready", response_model=ServerReady, responses={503: {"model": ServerReady}})
async def server_ready(engine: EngineDep) -> JSONResponse:
    """Readiness: 200 when every model is loaded and warmed, else 503."""
    ready = engine.ready
    return JSONResponse(ServerReady(ready=ready).model_dump(), 200 if ready else 503)


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
async def get_model_metadata(name: str, engine: EngineDep) -> ModelMetadata:
    """Model metadata: inputs and outputs (one per head) with datatypes and shapes."""
    return model_metadata(engine.resolve(name).manifest)


@router.get("/models/{name}/versions/{version}", response_model=ModelMetadata, responses=_ERRORS)
async def get_model_version_metadata(name: str, version: str, engine: EngineDep) -> ModelMetadata:
    """Model metadata of one version (only the served version exists)."""
    return model_metadata(engine.resolve(name, version).manifest)


def _ready_response(model: ServedModel) -> JSONResponse:
    body = ModelReady(name=model.name, ready=model.ready).model_dump()
    return JSONResponse(body, 200 if model.ready else 503)


@router.get("/models/{name}/ready", response_model=ModelReady, responses=_ERRORS)
async def get_model_ready(name: str, engine: EngineDep) -> JSONResponse:
    """Model readiness: 200 when the model serves requests, else 503."""
    return _ready_response(engine.get(name))


@router.get("/models/{name}/versions/{version}/ready", response_model=ModelReady,
            responses=_ERRORS)  # fmt: skip
async def get_model_version_ready(name: str, version: str, engine: EngineDep) -> JSONResponse:
    """Readiness of one version of a model."""
    return _ready_response(engine.get(name, version))


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
async def get_model_config(name: str, engine: EngineDep) -> dict[str, Any]:
    """Model configuration (Triton's extension): batching limits and tensor dims."""
    manifest = engine.resolve(name).manifest
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
    if request.headers.get("content-encoding", "identity") != "identity":
        raise UnsupportedMediaError("compressed request bodies are not supported; send identity")
    header, tail = codec.split_body(await request.body(), request.headers.get(HEADER_LENGTH))
    max_items = engine.settings.max_items
    done = await run_infer(engine, name, version,
                           lambda model: _decode(model, header, tail, max_items))  # fmt: skip
    parsed, plans = done.plan
    request_id = parsed.id if parsed.id is not None else request_id_of(request.scope) or ""
    body, header_length = encode_response(done.model, request_id, plans, done.outputs)
    if header_length is None:
        return Response(body, media_type="application/json")
    headers = {"Inference-Header-Content-Length": str(header_length)}
    return Response(body, media_type="application/octet-stream", headers=headers)


def _decode(
    model: ServedModel, header: bytes, tail: bytes, max_items: int
) -> tuple[tuple[InferRequest, list[OutputPlan]], list[Inputs]]:
    """Parse, plan the outputs, and build the items (decoding images): run in a worker thread."""
    parsed, tensors = decode_request(header, tail)
    plans = plan_outputs(model.manifest, parsed)  # a bad output name fails before any work
    return (parsed, plans), to_items(model, tensors, max_items)


@router.post("/models/{name}/infer", **_INFER_DOC)
async def infer(name: str, request: Request, engine: EngineDep) -> Response:
    """Inference: JSON tensors (or binary tensor data) in, the requested heads out."""
    return await _infer(engine, request, name, None)


@router.post("/models/{name}/versions/{version}/infer", **_INFER_DOC)
async def infer_version(name: str, version: str, request: Request, engine: EngineDep) -> Response:
    """Inference on one version of a model (only the served version exists)."""
    return await _infer(engine, request, name, version)
