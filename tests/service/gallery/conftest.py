"""Fixtures: a store of each backend on a temporary location, reopenable to test persistence.

``edge`` is the embedded qdrant-edge store on a temporary directory; ``qdrant`` is the server
backend on qdrant-client's in-process local mode (``QdrantClient(path=...)``): no Qdrant server
is run by these tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from service.gallery import CollectionSpec, GalleryConfig, GalleryStore, Item
from service.gallery.edge import EdgeGalleryStore
from service.gallery.qdrant import QdrantGalleryStore

DIM = 8
Opener = Callable[..., GalleryStore]


def open_backend(backend: str, location: Path, **overrides: Any) -> GalleryStore:
    """A store of ``backend`` on ``location``; the same location reopens the same data."""
    if backend == "edge":
        return EdgeGalleryStore(GalleryConfig(data_dir=location, **overrides))
    config = GalleryConfig(backend="qdrant", qdrant_url="http://in-process", **overrides)
    return QdrantGalleryStore(config, client=QdrantClient(path=str(location)))


@pytest.fixture(params=["edge", "qdrant"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once per backend."""
    return str(request.param)


@pytest.fixture
def opener(backend: str, tmp_path: Path) -> Iterator[Opener]:
    """``opener(**config)`` opens the backend on this test's location; all closed at the end."""
    opened: list[GalleryStore] = []

    def open_one(**overrides: Any) -> GalleryStore:
        store = open_backend(backend, tmp_path / "store", **overrides)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> GalleryStore:
    """A fresh, empty store."""
    return opener()


def make_spec(name: str = "photos", dimension: int = DIM, **overrides: Any) -> CollectionSpec:
    """A valid collection spec embedded by ``vision`` v1 and ``text`` v1."""
    values: dict[str, Any] = {
        "name": name,
        "dimension": dimension,
        "space": "semantic",
        "models": {"vision": 1, "text": 1},
        **overrides,
    }
    return CollectionSpec(**values)


def unit_vectors(count: int, dimension: int = DIM, seed: int = 0) -> np.ndarray:
    """``count`` random unit vectors, reproducible."""
    vectors = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_items(vectors: np.ndarray, prefix: str = "item") -> list[Item]:
    """One item per vector, with metadata that the filter tests query."""
    colours = ["red", "green", "blue"]
    return [
        Item(
            id=f"{prefix}-{i}",
            vector=vector,
            metadata={
                "n": i,
                "score": i / 10,
                "colour": colours[i % 3],
                "tags": ["even" if i % 2 == 0 else "odd", f"t{i}"],
                "camera": {"make": "fuji" if i < 5 else "leica"},
            },
        )
        for i, vector in enumerate(vectors)
    ]
