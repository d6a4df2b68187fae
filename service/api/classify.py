"""``POST /v1/classify``: the classification and regression heads of any model."""

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
from service.api.schemas import HeadResult, Response

router = APIRouter(prefix="/v1", tags=["classify"], route_class=ServiceRoute)

TaskName = Annotated[str, Field(min_length=1, max_length=64)]
DEFAULT_MODEL = (
    "`vision` when the repository has it, else the one loaded model with classification heads "
    "that takes these items"
)


VERSION_DOC = "a version the model serves (GET /v1/models lists them); default: the highest"


class ClassifyItem(Strict):
    """One input: an image, a text, or both, as the model declares (see GET /v1/models)."""

    image: Base64Image | None = None
    text: Text | None = None


class ClassifyRequest(Strict):
    """Items to classify with one model, and which heads to return."""

    model: ModelName | None = Field(
        default=None, description=f"a model with classification heads; default: {DEFAULT_MODEL}"
    )
    version: int | None = Field(default=None, ge=1, description=VERSION_DOC)
    items: list[ClassifyItem] = Field(min_length=1, max_length=MAX_LIST)
    tasks: list[TaskName] | None = Field(
        default=None, max_length=64, description="head names or tasks; all heads when omitted"
    )
    top_k: int = Field(default=5, ge=1, le=1000, description="labels per classification head")


class ItemResult(Response):
    """The heads of one item, keyed by output name."""

    heads: dict[str, HeadResult]


class ClassifyResponse(Response):
    """One result per item, in request order."""

    model: str
    version: int
    results: list[ItemResult]


@router.post("/classify", response_model=ClassifyResponse)
async def classify(body: ClassifyRequest, engine: EngineDep) -> ClassifyResponse:
    """Classify images and/or texts with a model's heads (choose them with ``tasks``)."""
    items = [run.Item(image=decode_base64(i.image) if i.image else None, text=i.text)
             for i in body.items]  # fmt: skip
    result = await run.classify(
        engine, items, model=body.model, version=body.version, heads=body.tasks, top_k=body.top_k
    )
    return ClassifyResponse.model_validate(result)


@router.post("/classify/upload", response_model=ClassifyResponse)
async def classify_upload(
    engine: EngineDep,
    files: Annotated[list[UploadFile] | None, File(description="images, one item each")] = None,
    texts: Annotated[list[str] | None, Form(description="texts, one per item")] = None,
    model: Annotated[str | None, Form(pattern=MODEL_NAME, description=DEFAULT_MODEL)] = None,
    version: Annotated[int | None, Form(ge=1, description=VERSION_DOC)] = None,
    tasks: Annotated[list[str] | None, Form(description="heads to return")] = None,
    top_k: Annotated[int, Form(ge=1, le=1000)] = 5,
) -> ClassifyResponse:
    """Classify uploaded image files (multipart/form-data), with texts for models that take them."""
    items = await paired_items(files, texts or [])
    result = await run.classify(
        engine, items, model=model, version=version, heads=tasks, top_k=top_k
    )
    return ClassifyResponse.model_validate(result)
