"""``POST /v1/sentiment``: label, class probabilities and valence of texts (± an image)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

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
from service.errors import InvalidInputError
from service.inference.engine import Engine
from service.inference.postprocess import regression_value, sentiment_heads
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["sentiment"])


class SentimentItem(Strict):
    """A text, with an image when the model also takes one."""

    text: Text
    image: Base64Image | None = None


class SentimentRequest(Strict):
    """Texts to rate with one sentiment model."""

    model: ModelName = Field(default="text", description="a model with a sentiment head")
    items: list[SentimentItem] = Field(min_length=1, max_length=MAX_LIST)


class SentimentResult(BaseModel):
    """One item's sentiment."""

    label: str
    probabilities: dict[str, float]
    valence: float | None = Field(default=None, description="regression head, e.g. -4..4")
    valence_range: tuple[float, float] | None = None
    modalities: list[str] = Field(description="the inputs the model used for this item")


class SentimentResponse(BaseModel):
    """One result per item, in request order."""

    model: str
    version: int
    results: list[SentimentResult]


@router.post("/sentiment", response_model=SentimentResponse)
async def sentiment(
    body: SentimentRequest, request: Request, engine: EngineDep, settings: SettingsDep
) -> SentimentResponse:
    """Sentiment label, class probabilities and valence for each text."""
    images = [decode_base64(i.image) if i.image else None for i in body.items]
    texts: list[str | None] = [i.text for i in body.items]
    return await run_sentiment(engine, settings, mark_model(request, body.model), images, texts)


@router.post("/sentiment/upload", response_model=SentimentResponse)
async def sentiment_upload(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    texts: Annotated[list[str], Form(description="texts, one per item")],
    files: Annotated[list[UploadFile] | None, File(description="one image per text")] = None,
    model: Annotated[str, Form(pattern=MODEL_NAME)] = "text",
) -> SentimentResponse:
    """Sentiment of form texts, with uploaded images for models that take them."""
    images, paired = pair_up(await read_uploads(files), texts)
    return await run_sentiment(engine, settings, mark_model(request, model), images, paired)


async def run_sentiment(
    engine: Engine,
    settings: Settings,
    model: str,
    images: Sequence[bytes | None],
    texts: Sequence[str | None],
) -> SentimentResponse:
    """Check limits, run the model, read its sentiment and valence heads."""
    check_items(settings, len(texts))
    if any(t is None for t in texts):
        raise InvalidInputError("every sentiment item needs a text")
    check_texts(settings, texts)
    manifest = engine.model(model).manifest
    label_head, valence_head = sentiment_heads(manifest)
    labels = label_head.labels or []
    outputs = await engine.run(model, images, texts)
    results = []
    for image, out in zip(images, outputs, strict=True):
        probs = [float(p) for p in out[label_head.name].reshape(-1)]
        best = max(range(len(probs)), key=probs.__getitem__)
        results.append(
            SentimentResult(
                label=labels[best],
                probabilities=dict(zip(labels, probs, strict=True)),
                valence=regression_value(out[valence_head.name]) if valence_head else None,
                valence_range=valence_head.range if valence_head else None,
                modalities=["text", "image"] if image is not None else ["text"],
            )
        )
    return SentimentResponse(model=model, version=manifest.version, results=results)
