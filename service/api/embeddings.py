"""``/v1/embed``, ``/v1/similarity``, ``/v1/rank``: images and texts in a shared embedding space."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import Field

from service import tasks as run
from service.api.deps import EngineDep
from service.api.inputs import (
    MAX_LIST,
    SPACE_NAME,
    ClientId,
    ImageItem,
    MediaInput,
    SpaceName,
    Strict,
    TextItem,
    to_item,
    upload_items,
)
from service.api.routing import ServiceRoute
from service.api.schemas import Response
from service.errors import InvalidInputError

router = APIRouter(prefix="/v1", tags=["embeddings"], route_class=ServiceRoute)

Space = Annotated[SpaceName, Field(description="embedding space id (GET /v1/models: heads.space)")]
CandidateId = Annotated[ClientId | None, Field(description="echoed in the rank results")]


class EmbedRequest(Strict):
    """Texts and/or images to embed."""

    space: Space = "semantic"
    inputs: list[MediaInput] = Field(min_length=1, max_length=MAX_LIST)


class Embedding(Response):
    """One vector and the model that made it."""

    model: str
    modality: str
    dim: int
    vector: list[float]


class EmbedResponse(Response):
    """One embedding per input, in request order."""

    space: str
    embeddings: list[Embedding]


class Pair(Strict):
    """Two inputs to compare (any modalities)."""

    a: MediaInput
    b: MediaInput


class SimilarityRequest(Strict):
    """Pairs to score by cosine similarity."""

    space: Space = "semantic"
    pairs: list[Pair] = Field(min_length=1, max_length=MAX_LIST)


class SimilarityResponse(Response):
    """One cosine per pair, in request order."""

    space: str
    scores: list[float]


class TextCandidate(TextItem):
    """A text to rank, with an optional id to find it in the results."""

    id: CandidateId = None


class ImageCandidate(ImageItem):
    """An image to rank, with an optional id to find it in the results."""

    id: CandidateId = None


Candidate = Annotated[TextCandidate | ImageCandidate, Field(discriminator="type")]


class RankRequest(Strict):
    """One query against candidates of either modality (CLIP-style zero-shot)."""

    space: Space = "semantic"
    query: MediaInput
    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_LIST)
    temperature: float | None = Field(
        default=None, gt=0, le=1000, description="softmax logit scale; server default if omitted"
    )
    top_k: int | None = Field(default=None, ge=1, le=MAX_LIST)


class Ranked(Response):
    """A candidate's place: its index in the request, cosine and softmax probability."""

    index: int
    cosine: float
    probability: float
    id: str | None = Field(
        default=None, description="the candidate's id, or its file name (uploads)"
    )
    text: str | None = Field(default=None, description="the candidate's text (text candidates)")


class RankResponse(Response):
    """Candidates best first."""

    space: str
    temperature: float
    results: list[Ranked]


@router.post("/embed", response_model=EmbedResponse)
async def embed_inputs(body: EmbedRequest, engine: EngineDep) -> EmbedResponse:
    """Embed texts and images in one space (``semantic``: the vision and text models)."""
    result = await run.embed(engine, body.space, [to_item(i) for i in body.inputs])
    return EmbedResponse.model_validate(result)


@router.post("/similarity", response_model=SimilarityResponse)
async def similarity(body: SimilarityRequest, engine: EngineDep) -> SimilarityResponse:
    """Cosine similarity of image-text, text-text or image-image pairs."""
    pairs = [(to_item(pair.a), to_item(pair.b)) for pair in body.pairs]
    return SimilarityResponse.model_validate(await run.similarity(engine, body.space, pairs))


@router.post("/rank", response_model=RankResponse)
async def rank_candidates(body: RankRequest, engine: EngineDep) -> RankResponse:
    """Rank candidates against a query: raw cosine and softmax(temperature * cosine)."""
    candidates = [to_item(c, c.id) for c in body.candidates]
    result = await run.rank(engine, body.space, to_item(body.query), candidates,
                        temperature=body.temperature, top_k=body.top_k)  # fmt: skip
    return RankResponse.model_validate(result)


@router.post("/rank/upload", response_model=RankResponse)
async def rank_upload(
    engine: EngineDep,
    query_text: Annotated[str | None, Form(max_length=65_536)] = None,
    query_image: Annotated[UploadFile | None, File()] = None,
    candidate_texts: Annotated[list[str] | None, Form()] = None,
    candidate_images: Annotated[list[UploadFile] | None, File()] = None,
    space: Annotated[str, Form(pattern=SPACE_NAME)] = "semantic",
) -> RankResponse:
    """Rank uploaded images and/or form texts (texts first) against a text or image query.

    Each result carries its candidate's text, or its file name as ``id``.
    """
    if (query_text is None) == (query_image is None):
        raise InvalidInputError("give exactly one of query_text and query_image")
    query, *_ = await upload_items([query_text] if query_text is not None else [],
                                   [query_image] if query_image is not None else [])  # fmt: skip
    candidates = await upload_items(candidate_texts or [], candidate_images or [])
    return RankResponse.model_validate(await run.rank(engine, space, query, candidates))


@router.post("/embed/upload", response_model=EmbedResponse)
async def embed_upload(
    engine: EngineDep,
    texts: Annotated[list[str] | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
    space: Annotated[str, Form(pattern=SPACE_NAME)] = "semantic",
) -> EmbedResponse:
    """Embed form texts and uploaded images (texts first, then images)."""
    items = await upload_items(texts or [], files or [])
    return EmbedResponse.model_validate(await run.embed(engine, space, items))
