"""The gallery's use cases: collections of embedded images and texts, and search over them.

Items and queries are embedded by :func:`~service.tasks.embeddings.vectors`, through the same
per-model batchers as ``/v1/embed``; the vectors go to a :class:`~service.gallery.GalleryStore`.
Every store call blocks (the engines do), so each one runs in a worker thread: both stores are
thread-safe (the embedded one serialises its engine calls behind one lock).

Version policy (``service/gallery/versions.py``): a collection records the model versions of its
space when it is created; an ingest or a text/image query by another version is refused with a
409 that says how to re-embed, so vectors of two versions are never mixed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from service.errors import InvalidInputError, ModelNotFoundError, PayloadTooLargeError
from service.gallery import (
    CollectionInfo,
    CollectionSpec,
    Filter,
    GalleryStore,
    ModelRef,
    SearchHit,
)
from service.gallery import Item as StoredPoint
from service.gallery.ids import content_id
from service.gallery.models import StoredItem, VectorLike
from service.gallery.validation import check_name
from service.gallery.versions import check_model, query_model
from service.inference.engine import Engine
from service.tasks.embeddings import tower, vectors
from service.tasks.inputs import Item

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One thing to add: an image or a text (``item.id``: the client's id, else the sha256)."""

    item: Item
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """What to search by: exactly one of an item to embed, a stored item's id, a vector."""

    item: Item | None = None
    item_id: str | None = None
    vector: VectorLike | None = None


@dataclass(frozen=True)
class AddResult:
    """The ids written (in input order), the collection's size after, the model that embedded."""

    ids: list[str]
    count: int
    model: ModelRef | None


@dataclass(frozen=True)
class SearchResult:
    """Hits best first, and the model version that embedded the query (None for raw vectors)."""

    results: list[SearchHit]
    model: ModelRef | None


async def blocking(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call in a worker thread."""
    return await asyncio.to_thread(function, *args, **kwargs)


async def create(
    engine: Engine, store: GalleryStore, name: str, space: str, description: str = ""
) -> CollectionInfo:
    """An empty collection of ``space``: its dimension and models come from the space's models."""
    check_name(name)
    members = engine.space(space)
    if not members:
        known = ", ".join(engine.spaces()) or "none"
        raise ModelNotFoundError(f"no embedding space {space!r}; known spaces: {known}")
    dimensions = {_dimension(output.shape) for _, output in members}
    if len(dimensions) != 1:
        raise InvalidInputError(f"the models of space {space!r} disagree on the dimension")
    models = {model.name: model.version for model, _ in members if model.version is not None}
    spec = CollectionSpec(name, dimensions.pop(), space, models, description)
    return await blocking(store.create_collection, spec)


async def add(
    engine: Engine, store: GalleryStore, name: str, entries: Sequence[Entry]
) -> AddResult:
    """Embed the entries in the collection's space and upsert them (all or, per model, none)."""
    limit = engine.settings.gallery_max_batch_items
    if not entries:
        raise InvalidInputError("nothing to add: send at least one item", field="items")
    if len(entries) > limit:
        raise PayloadTooLargeError(f"{len(entries)} items in one request; the limit is {limit}")
    info = await blocking(store.get_collection, name)
    refs = {m: _checked_ref(engine, info, m) for m in {e.item.modality for e in entries}}
    embedded = await _embed(engine, info.spec.space, [e.item for e in entries])
    ids = [entry.item.id or _default_id(entry.item) for entry in entries]
    groups: dict[str, list[StoredPoint]] = {}
    for entry, item_id, vector in zip(entries, ids, embedded, strict=True):
        point = StoredPoint(item_id, vector, dict(entry.metadata))
        groups.setdefault(entry.item.modality, []).append(point)
    for modality, points in groups.items():
        await blocking(store.upsert, name, points, model=refs[modality])
    count = await blocking(store.count, name)
    return AddResult(ids, count, refs[entries[0].item.modality])


async def search(
    engine: Engine,
    store: GalleryStore,
    name: str,
    query: Query,
    *,
    top_k: int = 10,
    offset: int = 0,
    filter: Filter | None = None,
    with_metadata: bool = True,
    with_vectors: bool = False,
) -> SearchResult:
    """The items closest to the query (cosine, best first), after ``offset`` and ``filter``."""
    vector, model, ref = await _query_vector(engine, store, name, query)
    hits = await blocking(
        store.search, name, vector, top_k=top_k, offset=offset, filter=filter,
        with_metadata=with_metadata, with_vectors=with_vectors, model=model,
    )  # fmt: skip
    return SearchResult(hits, ref)


async def get_item(store: GalleryStore, name: str, item_id: str, with_vector: bool) -> StoredItem:
    """One stored item (404 if unknown)."""
    return await blocking(store.get, name, item_id, with_vector=with_vector)


async def delete_items(
    store: GalleryStore, name: str, ids: Sequence[str] | None, filter: Filter | None
) -> tuple[int, int]:
    """Delete by ids or by a non-empty filter (exactly one); (deleted, count after)."""
    if (ids is None) == (filter is None):
        raise InvalidInputError("give exactly one of ids and filter", field="ids")
    if filter is not None:
        if filter.is_empty():
            raise InvalidInputError(
                "an empty filter matches every item; delete the collection instead",
                field="filter",
            )
        deleted = await blocking(store.delete_where, name, filter)
    else:
        deleted = await blocking(store.delete, name, list(ids or []))
    return deleted, await blocking(store.count, name)


async def _query_vector(
    engine: Engine, store: GalleryStore, name: str, query: Query
) -> tuple[VectorLike, ModelRef | None, ModelRef | None]:
    """The query's vector, the model to check it against, and the model to report."""
    given = [v for v in (query.item, query.item_id, query.vector) if v is not None]
    if len(given) != 1:
        raise InvalidInputError("a query is exactly one of a text, an image, an item, a vector")
    if query.vector is not None:
        return query.vector, None, None
    if query.item_id is not None:
        stored = await blocking(store.get, name, query.item_id, with_vector=True)
        assert stored.vector is not None  # asked for with_vector
        return stored.vector, None, stored.model
    assert query.item is not None
    info = await blocking(store.get_collection, name)
    model, _ = tower(engine, info.spec.space, query.item.modality)
    loaded = [model.version] if model.version is not None else []
    ref = query_model(info, model.name, loaded)
    [vector] = await _embed(engine, info.spec.space, [query.item])
    return vector, ref, ref


def _checked_ref(engine: Engine, info: CollectionInfo, modality: str) -> ModelRef:
    """The serving model for ``modality`` in the collection's space, if the collection takes it."""
    model, _ = tower(engine, info.spec.space, modality)
    if model.version is None:
        raise ModelNotFoundError(f"model {model.name!r} has no version to serve")
    ref = ModelRef(model.name, model.version)
    check_model(info.spec, ref)
    return ref


async def _embed(engine: Engine, space: str, items: Sequence[Item]) -> list[np.ndarray]:
    """Vectors of ``items``, ``max_items`` at a time (what the batch queues are sized for)."""
    step = engine.settings.max_items
    out: list[np.ndarray] = []
    for start in range(0, len(items), step):
        out += [r.vector for r in await vectors(engine, space, items[start : start + step])]
    return out


def _default_id(item: Item) -> str:
    content: bytes | str | None = item.image if item.image is not None else item.text
    assert content is not None  # Item.modality checked that one is given
    return content_id(content)


def _dimension(shape: Sequence[int | str]) -> int:
    last = shape[-1] if shape else None
    if not isinstance(last, int) or last < 1:
        raise InvalidInputError(f"an embedding output of shape {list(shape)} has no fixed size")
    return last
