"""``POST /v1/sentiment``: label, class probabilities and valence of texts (± an image)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import Field

from service import tasks as run
from service.api.deps import EngineDep
from service.api.inputs import (
    MAX_LIST,
    MODEL_NAME,
    Base64Image,
    ModelName,
    Strict,
    Text,
    decode_base64,
    paired_items,
)
from service.api.routing import ServiceRoute
from service.api.schemas import Response

router = APIRouter(prefix="/v1", tags=["sentiment"], route_class=ServiceRoute)

DEFAULT_MODEL = (
    "`text` when the repository has it, else the one loaded model with a softmax head that "
    "takes these items"
)


VERSION_DOC = "a version the model serves (GET /v1/models lists them); default: the highest"


class SentimentItem(Strict):
    """A text, with an image when the model also takes one."""

    text: Text
    image: Base64Image | None = None


class SentimentRequest(Strict):
    """Texts to rate with one sentiment model."""

    model: ModelName | None = Field(
        default=None, description=f"a model with a sentiment head; default: {DEFAULT_MODEL}"
    )
    version: int | None = Field(default=None, ge=1, description=VERSION_DOC)
    items: list[SentimentItem] = Field(min_length=1, max_length=MAX_LIST)


class SentimentResult(Response):
    """One item's sentiment."""

    label: str
    probabilities: dict[str, float]
    valence: float | None = Field(default=None, description="regression head, e.g. -4..4")
    valence_range: tuple[float, float] | None = None
    modalities: list[str] = Field(description="the inputs the model used for this item")


class SentimentResponse(Response):
    """One result per item, in request order."""

    model: str
    version: int
    results: list[SentimentResult]


@router.post("/sentiment", response_model=SentimentResponse)
async def sentiment(body: SentimentRequest, engine: EngineDep) -> SentimentResponse:
    """Sentiment label, class probabilities and valence for each text."""
    items = [run.Item(image=decode_base64(i.image) if i.image else None, text=i.text)
             for i in body.items]  # fmt: skip
    return SentimentResponse.model_validate(
        await run.sentiment(engine, items, model=body.model, version=body.version)
    )


@router.post("/sentiment/upload", response_model=SentimentResponse)
async def sentiment_upload(
    engine: EngineDep,
    texts: Annotated[list[str], Form(description="texts, one per item")],
    files: Annotated[list[UploadFile] | None, File(description="one image per text")] = None,
    model: Annotated[str | None, Form(pattern=MODEL_NAME, description=DEFAULT_MODEL)] = None,
    version: Annotated[int | None, Form(ge=1, description=VERSION_DOC)] = None,
) -> SentimentResponse:
    """Sentiment of form texts, with uploaded images for models that take them."""
    items = await paired_items(files, texts)
    return SentimentResponse.model_validate(
        await run.sentiment(engine, items, model=model, version=version)
    )
