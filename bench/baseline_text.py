"""The benchmark's plain text app: tokenise and run the text model once per request.

What most people write first for ``POST /v1/sentiment``: a sync FastAPI handler (FastAPI's thread
pool) that tokenises the text with the model's ``tokenizer.json`` (the manifest's truncation and
lowercasing, through the service's ``TextEncoder``, so the tokens are the same), calls
``session.run`` on that one item and returns the label, probabilities and valence in the
service's response shape. Same ONNX file (``model.onnx``, fp32) and session options as the
service under test; no batching, no queue bound.

Run by the benchmark as ``uvicorn --factory bench.baseline_text:create_text_app`` with
``MMS_MODEL_DIR`` (and the other ``MMS_*`` session settings) and ``BENCH_TEXT_MODEL`` set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel

from bench.raw import open_session
from contract.layout import latest_version_dir
from contract.manifest import Manifest, TextInput, read_manifest
from service.inference.text import TextEncoder
from service.settings import Settings

__all__ = ["create_text_app"]


class Item(BaseModel):
    text: str


class SentimentRequest(BaseModel):
    model: str = "text"
    items: list[Item]


@dataclass(frozen=True)
class _Model:
    name: str
    manifest: Manifest
    session: ort.InferenceSession
    encoder: TextEncoder
    feeds: dict[str, str]  # input name -> TextEncoder role


router = APIRouter()


@router.get("/health/ready")
def ready() -> dict[str, bool]:
    """Ready once the factory returned (the model loads before the app exists)."""
    return {"ready": True}


def _answer(manifest: Manifest, outputs: dict[str, np.ndarray]) -> dict[str, object]:
    label_head = next(o for o in manifest.outputs if o.type == "softmax")
    valence = next((o for o in manifest.outputs if o.type == "regression"), None)
    probs = outputs[label_head.name][0].reshape(-1)
    labels = label_head.labels or []
    return {
        "label": labels[int(np.argmax(probs))],
        "probabilities": {label: float(p) for label, p in zip(labels, probs, strict=True)},
        "valence": float(outputs[valence.name][0].reshape(-1)[0]) if valence else None,
    }


@router.post("/v1/sentiment")
def sentiment(body: SentimentRequest, request: Request) -> dict[str, object]:
    """Tokenise and run each text alone: one ``session.run`` per text."""
    model: _Model = request.app.state.model
    names = [o.name for o in model.manifest.outputs]
    results = []
    for item in body.items:
        encoded = model.encoder.encode(item.text)
        feeds = {name: encoded[role][None] for name, role in model.feeds.items()}  # (1, T)
        outputs = dict(zip(names, model.session.run(names, feeds), strict=True))
        results.append(_answer(model.manifest, outputs))
    return {"model": model.name, "version": model.manifest.version, "results": results}


def create_text_app() -> FastAPI:
    """The plain text app: one model loaded at startup, one ORT call per text."""
    settings = Settings()  # the same MMS_* session options as the service under test
    name = os.environ.get("BENCH_TEXT_MODEL", "text")
    version_dir = latest_version_dir(settings.model_dir, name)
    manifest = read_manifest(version_dir)
    spec = manifest.input("text")
    if not isinstance(spec, TextInput):
        raise ValueError(f"model {name!r} has no text input; the plain text app needs one")
    encoder = TextEncoder(spec, version_dir, settings.max_text_chars)
    feeds = {i.name: i.role for i in manifest.inputs}
    app = FastAPI()
    app.state.model = _Model(name, manifest, open_session(version_dir, settings), encoder, feeds)
    app.include_router(router)
    return app
