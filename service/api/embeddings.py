"""``/v1/embed``, ``/v1/similarity``, ``/v1/rank``: images and texts in a shared embedding space."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from service.api.deps import EngineDep, SettingsDep, mark_model
from service.api.inputs import (
    MAX_LIST,
    MediaInput,
    SpaceName,
    Strict,
    check_media,
    to_media,
    upload_media,
)  # fmt: skip
from service.errors import InvalidInputError
from service.inference.engine import Engine
from service.inference.postprocess import cosine, rank
from service.inference.spaces import MediaItem, embed
from service.settings import Settings

router = APIRouter(prefix="/v1", tags=["embeddings"])

Space = Annotated[SpaceName, Field(description="embedding space id (GET /v1/models: heads.space)")]


class EmbedRequest(Strict):
    """Texts and/or images to embed."""

    space: Space = "semantic"
    inputs: list[MediaInput] = Field(min_length=1, max_length=MAX_LIST)


class Embedding(BaseModel):
    """One vector and the model that made it."""

    model: str
    modality: str
    dim: int
    vector: list[float]


class EmbedResponse(BaseModel):
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


class SimilarityResponse(BaseModel):
    """One cosine per pair, in request order."""

    space: str
    scores: list[float]


class RankRequest(Strict):
    """One query against candidates of either modality (CLIP-style zero-shot)."""

    space: Space = "semantic"
    query: MediaInput
    candidates: list[MediaInput] = Field(min_length=1, max_length=MAX_LIST)
    temperature: float | None = Field(
        default=None, gt=0, le=1000, description="softmax logit scale; server default if omitted"
    )
    top_k: int | None = Field(default=None, ge=1, le=MAX_LIST)


class Ranked(BaseModel):
    """A candidate's place: its index in the request, cosine and softmax probability."""

    index: int
    cosine: float
    probability: float


class RankResponse(BaseModel):
    """Candidates best first."""

    space: str
    temperature: float
    results: list[Ranked]


@router.post("/embed", response_model=EmbedResponse)
async def embed_inputs(
    body: EmbedRequest, request: Request, engine: EngineDep, settings: SettingsDep
) -> EmbedResponse:
    """Embed texts and images in one space (``semantic``: the vision and text models)."""
    media = [to_media(i) for i in body.inputs]
    return await run_embed(engine, settings, request, body.space, media)


@router.post("/similarity", response_model=SimilarityResponse)
async def similarity(
    body: SimilarityRequest, engine: EngineDep, settings: SettingsDep
) -> SimilarityResponse:
    """Cosine similarity of image-text, text-text or image-image pairs."""
    flat = [to_media(item) for pair in body.pairs for item in (pair.a, pair.b)]
    check_media(settings, flat)
    vectors = await embed(engine, body.space, flat)
    scores = [cosine(a.vector, b.vector) for a, b in zip(vectors[::2], vectors[1::2], strict=True)]
    return SimilarityResponse(space=body.space, scores=scores)


@router.post("/rank", response_model=RankResponse)
async def rank_candidates(
    body: RankRequest, engine: EngineDep, settings: SettingsDep
) -> RankResponse:
    """Rank candidates against a query: raw cosine and softmax(temperature * cosine)."""
    temperature = body.temperature or settings.rank_temperature
    media = [to_media(i) for i in (body.query, *body.candidates)]
    return await run_rank(engine, settings, body.space, media, temperature, body.top_k)


@router.post("/rank/upload", response_model=RankResponse)
async def rank_upload(
    engine: EngineDep,
    settings: SettingsDep,
    query_text: Annotated[str | None, Form(max_length=65_536)] = None,
    query_image: Annotated[UploadFile | None, File()] = None,
    candidate_texts: Annotated[list[str] | None, Form()] = None,
    candidate_images: Annotated[list[UploadFile] | None, File()] = None,
    space: Annotated[str, Form(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "semantic",
) -> RankResponse:
    """Rank uploaded images and/or form texts (texts first) against a text or image query."""
    if (query_text is None) == (query_image is None):
        raise InvalidInputError("give exactly one of query_text and query_image")
    query = await upload_media([query_text] if query_text is not None else [],
                               [query_image] if query_image is not None else [])  # fmt: skip
    candidates = await upload_media(candidate_texts or [], candidate_images or [])
    return await run_rank(engine, settings, space, query + candidates,
                          settings.rank_temperature, None)  # fmt: skip


@router.post("/embed/upload", response_model=EmbedResponse)
async def embed_upload(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    texts: Annotated[list[str] | None, Form()] = None,
    files: Annotated[list[UploadFile] | None, File()] = None,
    space: Annotated[str, Form(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "semantic",
) -> EmbedResponse:
    """Embed form texts and uploaded images (texts first, then images)."""
    media = await upload_media(texts or [], files or [])
    return await run_embed(engine, settings, request, space, media)


async def run_embed(
    engine: Engine, settings: Settings, request: Request, space: str, media: list[MediaItem]
) -> EmbedResponse:
    """Embed media items (one batch per tower) and shape the answer."""
    check_media(settings, media)
    vectors = await embed(engine, space, media)
    mark_model(request, ",".join(sorted({v.model for v in vectors})))
    embeddings = [
        Embedding(model=v.model, modality=m.modality, dim=v.vector.size, vector=v.vector.tolist())
        for m, v in zip(media, vectors, strict=True)
    ]
    return EmbedResponse(space=space, embeddings=embeddings)


async def run_rank(
    engine: Engine,
    settings: Settings,
    space: str,
    media: list[MediaItem],
    temperature: float,
    top_k: int | None,
) -> RankResponse:
    """Embed the query (``media[0]``) with the candidates and sort candidates by cosine."""
    check_media(settings, media)
    if len(media) < 2:
        raise InvalidInputError("give at least one candidate")
    vectors = await embed(engine, space, media)
    cos, probs = rank(vectors[0].vector, [v.vector for v in vectors[1:]], temperature)
    order = sorted(range(len(cos)), key=lambda i: -cos[i])[: top_k or len(cos)]
    results = [Ranked(index=i, cosine=float(cos[i]), probability=float(probs[i])) for i in order]
    return RankResponse(space=space, temperature=temperature, results=results)
