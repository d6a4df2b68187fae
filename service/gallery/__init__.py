"""The gallery: persisted collections of embedded images and texts, searched across modalities.

The storage layer and its domain rules, with no HTTP in it:

- :mod:`~service.gallery.store`: the one store interface (``GalleryStore``) and ``open_store``;
- :mod:`~service.gallery.edge`: the embedded default, the Qdrant engine in-process;
- :mod:`~service.gallery.qdrant`: a Qdrant server or cluster, for replicas and scale;
- :mod:`~service.gallery.filters`: the metadata filter language, validated;
- :mod:`~service.gallery.versions`: which model version may write to or query a collection;
- :mod:`~service.gallery.ids`, :mod:`~service.gallery.payload`: ids and the stored point layout;
- :mod:`~service.gallery.config`, :mod:`~service.gallery.errors`: settings and domain errors.
"""

from service.gallery.config import GalleryConfig, GalleryLimits
from service.gallery.filters import Filter, parse_filter
from service.gallery.models import (
    CollectionInfo,
    CollectionSpec,
    Item,
    ModelRef,
    SearchHit,
    StoredItem,
)
from service.gallery.store import GalleryStore, open_store

__all__ = [
    "CollectionInfo",
    "CollectionSpec",
    "Filter",
    "GalleryConfig",
    "GalleryLimits",
    "GalleryStore",
    "Item",
    "ModelRef",
    "SearchHit",
    "StoredItem",
    "open_store",
    "parse_filter",
]
