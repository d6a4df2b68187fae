"""The one store interface both gallery backends implement, and the factory that picks one.

Every method is synchronous and blocking (the engines are): the API layer calls them off the
event loop (``anyio.to_thread.run_sync``). Errors are the domain errors of
:mod:`service.gallery.errors` and :mod:`service.errors`, never an engine's own exceptions for
anything a client did wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from service.gallery.config import GalleryConfig
from service.gallery.filters import Filter
from service.gallery.models import (
    CollectionInfo,
    CollectionSpec,
    Item,
    ModelRef,
    SearchHit,
    StoredItem,
    VectorLike,
)


class GalleryStore(Protocol):
    """Collections of vectors with JSON metadata, searched by cosine similarity."""

    def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """Create an empty collection (409 if the name is taken, 422 for a bad spec)."""
        ...

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection, by name, with its item count."""
        ...

    def get_collection(self, name: str) -> CollectionInfo:
        """One collection (404 if unknown)."""
        ...

    def delete_collection(self, name: str) -> None:
        """Delete a collection and every item in it (404 if unknown)."""
        ...

    def upsert(self, name: str, items: Sequence[Item], *, model: ModelRef) -> int:
        """Add or replace items (by id) embedded by ``model``; returns the distinct ids written.

        The batch is applied as one operation and is durable when this returns (see
        ``GalleryConfig.flush_on_write`` for what durable means for the embedded store). An id
        given twice in one batch keeps its last item. 409 when ``model`` is not the version the
        collection records; 422 for a vector of the wrong dimension, NaN or zero, bad metadata.
        """
        ...

    def get(self, name: str, item_id: str, *, with_vector: bool = False) -> StoredItem:
        """One item (404 if the collection or the item is unknown)."""
        ...

    def delete(self, name: str, ids: Sequence[str]) -> int:
        """Delete items by id; returns how many of them existed."""
        ...

    def delete_where(self, name: str, filter: Filter) -> int:
        """Delete the items that match a non-empty filter; returns how many matched."""
        ...

    def count(self, name: str, filter: Filter | None = None) -> int:
        """Items in the collection, or those that match ``filter``."""
        ...

    def search(
        self,
        name: str,
        vector: VectorLike,
        *,
        top_k: int = 10,
        offset: int = 0,
        filter: Filter | None = None,
        with_metadata: bool = True,
        with_vectors: bool = False,
        exact: bool = False,
        model: ModelRef | None = None,
    ) -> list[SearchHit]:
        """The ``top_k`` items closest to ``vector`` after skipping ``offset``, best first.

        Args:
            exact: score every item instead of walking the HNSW index (for recall checks).
            model: the model version that embedded ``vector``; checked against the collection
                (409 on a mismatch). None for a raw vector, or one read from the collection.
        """
        ...

    def optimize(self, name: str) -> bool:
        """Build pending indexes now; True if anything changed (servers index by themselves)."""
        ...

    def close(self) -> None:
        """Flush and release everything (idempotent); later calls raise a 503."""
        ...


def open_store(config: GalleryConfig) -> GalleryStore:
    """The backend ``config`` names, opened (the embedded one takes its directory's lock)."""
    if config.backend == "qdrant":
        from service.gallery.qdrant import QdrantGalleryStore

        return QdrantGalleryStore(config)
    from service.gallery.edge import EdgeGalleryStore

    return EdgeGalleryStore(config)
