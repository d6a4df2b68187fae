"""``POST /v1/classify``: the classification and regression heads of any model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from contract.manifest import OutputSpec
from service.api.deps import EngineDep, SettingsDep, mark_model
from service.api.inputs import (
    MAX_LIST,
    MODEL_NAME,
    Base64Image,
    ModelName,
    Strict,
    Text,
    check_items,
    check_texts,
    decode_base64,
    pair_up,
    read_uploads,
)  # fmt: skip
from service.inference.engine import Engine
from service.inference.postprocess import CLASSIFIER_TYPES, regression_value, select_heads
from service.inference.postprocess import top_labels as rank_labels
from service.inference.session import Outputs
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["classify"])

TaskName = Annotated[str, Field(min_length=1, max_length=64)]


class ClassifyItem(Strict):
    """One input: an image, a text, or both, as the model declares (see GET /v1/models)."""

    image: Base64Image | None = None
    text: Text | None = None


class ClassifyRequest(Strict):
    """Items to classify with one model, and which heads to return."""

    model: ModelName = Field(default="vision", description="a model with classification heads")
    items: list[ClassifyItem] = Field(min_length=1, max_length=MAX_LIST)
    tasks: list[TaskName] | None = Field(
        default=None, max_length=64, description="head names or tasks; all heads when omitted"
    )
    top_k: int = Field(default=5, ge=1, le=1000, description="labels per classification head")


class ScoredLabel(BaseModel):
    """A label and its probability."""

    label: str
    index: int
    score: float


class HeadResult(BaseModel):
    """One head's answer: top-k labels (softmax/sigmoid) or a value (regression)."""

    task: str
    type: str
    labels: list[ScoredLabel] | None = None
    value: float | None = None


class ItemResult(BaseModel):
    """The heads of one item, keyed by output name."""

    heads: dict[str, HeadResult]


class ClassifyResponse(BaseModel):
    """One result per item, in request order."""

    model: str
    version: int
    results: list[ItemResult]


@router.post("/classify", response_model=ClassifyResponse)
async def classify(
    body: ClassifyRequest, request: Request, engine: EngineDep, settings: SettingsDep
) -> ClassifyResponse:
    """Classify images and/or texts with a model's heads (choose them with ``tasks``)."""
    images = [decode_base64(i.image) if i.image else None for i in body.items]
    texts = [i.text for i in body.items]
    return await run_classify(
        engine, settings, mark_model(request, body.model), images, texts, body.tasks, body.top_k
    )


@router.post("/classify/upload", response_model=ClassifyResponse)
async def classify_upload(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile] | None, File(description="images, one item each")] = None,
    texts: Annotated[list[str] | None, Form(description="texts, one per item")] = None,
    model: Annotated[str, Form(pattern=MODEL_NAME)] = "vision",
    tasks: Annotated[list[str] | None, Form(description="heads to return")] = None,
    top_k: Annotated[int, Form(ge=1, le=1000)] = 5,
) -> ClassifyResponse:
    """Classify uploaded image files (multipart/form-data), with texts for models that take them."""
    images, paired_texts = pair_up(await read_uploads(files), texts or [])
    return await run_classify(
        engine, settings, mark_model(request, model), images, paired_texts, tasks, top_k
    )


async def run_classify(
    engine: Engine,
    settings: Settings,
    model: str,
    images: Sequence[bytes | None],
    texts: Sequence[str | None],
    tasks: Sequence[str] | None,
    top_k: int,
) -> ClassifyResponse:
    """Check limits, pick the heads, run the model and shape the answer."""
    check_items(settings, len(images))
    check_texts(settings, texts)
    manifest = engine.model(model).manifest
    heads = select_heads(manifest, tasks)
    outputs = await engine.run(model, images, texts)
    results = [ItemResult(heads=head_results(out, heads, top_k)) for out in outputs]
    return ClassifyResponse(model=model, version=manifest.version, results=results)


def head_results(
    outputs: Outputs, heads: Sequence[OutputSpec], top_k: int
) -> dict[str, HeadResult]:
    """Format the selected heads of one item."""
    results: dict[str, HeadResult] = {}
    for head in heads:
        row = outputs[head.name]
        if head.type in CLASSIFIER_TYPES and head.labels:
            labels = [ScoredLabel(**vars(lab)) for lab in rank_labels(row, head.labels, top_k)]
            results[head.name] = HeadResult(task=head.task, type=head.type, labels=labels)
        else:
            value = regression_value(row)
            results[head.name] = HeadResult(task=head.task, type=head.type, value=value)
    return results
