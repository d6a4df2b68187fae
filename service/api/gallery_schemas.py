"""Request and response models of the gallery routes (``/v1/collections``).

Static bounds live here (OpenAPI shows them); the configurable limits (``MMS_GALLERY_MAX_*``)
are checked by the task and the store, the same for JSON bodies and uploads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from service.api.inputs import Base64Image, ClientId, SpaceName, Strict, Text
from service.api.schemas import Response
from service.gallery import Filter

MAX_GALLERY_LIST = 10_000  # static bound; MMS_GALLERY_MAX_BATCH_ITEMS is the real one
MAX_VECTOR = 65_536

CollectionName = Annotated[
    str, Field(min_length=1, max_length=256, description="^[a-z0-9][a-z0-9_-]{0,63}$")
]
Metadata = Annotated[dict[str, Any], Field(description="any JSON object within the limits")]


class CreateCollectionRequest(Strict):
    """A new, empty collection of one embedding space."""

    name: CollectionName
    space: SpaceName = "semantic"
    description: str = Field(default="", max_length=1000)


class ModelOut(Response):
    """A model and the version of it that embedded (or embeds) vectors."""

    name: str
    version: int


class CollectionOut(Response):
    """A collection: its space, dimension, size and the model versions it holds."""

    name: str
    space: str
    description: str
    dimension: int
    count: int
    models: list[ModelOut]
    created: str = Field(description="ISO 8601, UTC")


class CollectionList(Response):
    """Every collection, by name."""

    collections: list[CollectionOut]


class CollectionDeleted(Response):
    """A deleted collection."""

    deleted: bool
    name: str


class ItemIn(Strict):
    """One item to add: exactly one of ``image`` and ``text``, an optional id and metadata."""

    id: ClientId | None = Field(default=None, description="default: sha256 hex of the content")
    image: Base64Image | None = None
    text: Text | None = None
    metadata: Metadata = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_content(self) -> ItemIn:
        if (self.image is None) == (self.text is None):
            raise ValueError("an item has exactly one of image and text")
        return self


class AddItemsRequest(Strict):
    """Items to embed and upsert (an existing id is replaced)."""

    items: list[ItemIn] = Field(min_length=1, max_length=MAX_GALLERY_LIST)


class AddItemsResponse(Response):
    """The ids in input order, the collection's size after, and the model that embedded them."""

    ids: list[str]
    count: int
    model: ModelOut | None


def _absent(value: object) -> bool:
    return value is None


#: ``metadata`` and ``vector`` appear in a reply only when there is one (asked for).
Absent = Field(default=None, exclude_if=_absent)


class ItemOut(Response):
    """A stored item; ``vector`` only when asked for."""

    id: str
    metadata: dict[str, Any]
    vector: list[float] | None = Absent


class DeleteItemsRequest(Strict):
    """Delete by ids, or every item that matches a filter: give exactly one."""

    ids: list[ClientId] | None = Field(default=None, max_length=MAX_GALLERY_LIST)
    filter: Filter | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> DeleteItemsRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give exactly one of ids and filter")
        return self


class DeleteItemsResponse(Response):
    """How many items were deleted, and how many are left."""

    deleted: int
    count: int


class CountResponse(Response):
    """Items in the collection."""

    count: int


class TextQuery(Strict):
    """Search by a text (embedded by the space's text model)."""

    type: Literal["text"]
    text: Text


class ImageQuery(Strict):
    """Search by an image (embedded by the space's image model)."""

    type: Literal["image"]
    image: Base64Image


class ItemQuery(Strict):
    """Search by the stored vector of an item of the collection."""

    type: Literal["item"]
    id: ClientId


class VectorQuery(Strict):
    """Search by a raw vector of the collection's dimension."""

    type: Literal["vector"]
    vector: list[float] = Field(min_length=1, max_length=MAX_VECTOR)


Query = Annotated[TextQuery | ImageQuery | ItemQuery | VectorQuery, Field(discriminator="type")]


class SearchRequest(Strict):
    """A query, paging, a metadata filter and what to return."""

    query: Query
    top_k: int = Field(default=10, ge=1, le=MAX_GALLERY_LIST)
    offset: int = Field(default=0, ge=0, le=1_000_000)
    filter: Filter | None = None
    with_metadata: bool = True
    with_vectors: bool = False


class Hit(Response):
    """One result: cosine ``score`` (higher is closer)."""

    id: str
    score: float
    metadata: dict[str, Any] | None = Absent
    vector: list[float] | None = Absent


class SearchResponse(Response):
    """Hits best first, and the model version that embedded the query (null for vectors)."""

    results: list[Hit]
    model: ModelOut | None
