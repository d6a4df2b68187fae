"""The benchmark's baseline: the plain FastAPI app most people write first. Not part of the service.

Same model, same request and response shapes as ``POST /v1/classify``, the manifest's reference
preprocessing (Pillow's full decode, then the contract's ``image_tensor``), same ONNX Runtime
session options; but the standard library's base64 and JSON, one ``session.run`` per request (no
batching), in FastAPI's default thread pool (a sync handler), with no queue bound.
Comparing it with the service isolates what dynamic batching and the rest of the service add.

Run by the benchmark as ``uvicorn --factory bench.baseline:create_baseline_app`` with
``MMS_MODEL_DIR`` (and the other ``MMS_*`` session settings) and ``BENCH_MODEL`` set;
``BENCH_MODEL_FILE`` names the ONNX file of the version directory (default ``model.onnx``).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from bench.raw import open_session
from contract.layout import latest_version_dir
from contract.manifest import MODEL_FILE, ImageInput, Manifest, read_manifest
from service.inference.images import decode_image, image_tensor
from service.settings import Settings

__all__ = ["create_baseline_app"]


class Item(BaseModel):
    image: str


class ClassifyRequest(BaseModel):
    model: str = "vision"
    items: list[Item]
    top_k: int = 5


def top_k_heads(
    manifest: Manifest, outputs: dict[str, np.ndarray], k: int
) -> dict[str, object]:
    """The classification heads' top ``k`` labels of a one-row output, as ``/v1/classify``."""
    heads: dict[str, object] = {}
    for spec in manifest.outputs:
        if spec.type in ("softmax", "sigmoid") and spec.labels:
            row = outputs[spec.name][0]
            top = np.argsort(-row)[:k]
            labels = [
                {"label": spec.labels[i], "index": int(i), "score": float(row[i])} for i in top
            ]
            heads[spec.name] = {"task": spec.task, "type": spec.type, "labels": labels}
    return heads


@dataclass(frozen=True)
class _Model:
    name: str
    manifest: Manifest
    session: ort.InferenceSession
    spec: ImageInput
    max_pixels: int


router = APIRouter()


@router.get("/health/ready")
def ready() -> dict[str, bool]:
    """Ready once the factory returned (the model loads before the app exists)."""
    return {"ready": True}


@router.post("/v1/classify")
def classify(body: ClassifyRequest, request: Request) -> dict[str, object]:
    """Decode, preprocess and run each image alone: one ``session.run`` per image."""
    model: _Model = request.app.state.model
    names = [o.name for o in model.manifest.outputs]
    results = []
    for item in body.items:
        picture = decode_image(base64.b64decode(item.image, validate=True), model.max_pixels)
        batch = image_tensor(picture, model.spec)[None]  # (1, 3, H, W)
        outputs = dict(zip(names, model.session.run(names, {model.spec.name: batch}), strict=True))
        results.append({"heads": top_k_heads(model.manifest, outputs, body.top_k)})
    return {"model": model.name, "version": model.manifest.version, "results": results}


def create_baseline_app() -> FastAPI:
    """The plain app: one model loaded at startup, one ORT call per request."""
    settings = Settings()  # the same MMS_* session options as the service under test
    name = os.environ.get("BENCH_MODEL", "vision")
    version_dir = latest_version_dir(settings.model_dir, name)
    manifest = read_manifest(version_dir)
    spec = manifest.input("image")
    if not isinstance(spec, ImageInput):
        raise ValueError(f"model {name!r} has no image input; the baseline needs one")
    session = open_session(version_dir, settings, os.environ.get("BENCH_MODEL_FILE", MODEL_FILE))
    app = FastAPI()
    app.state.model = _Model(name, manifest, session, spec, settings.max_image_pixels)
    app.include_router(router)
    return app
