"""The server backend beyond the shared contract (on qdrant-client's local mode: no server runs)."""

from __future__ import annotations

import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from service.gallery import GalleryConfig, ModelRef
from service.gallery.errors import CollectionNotFoundError, GalleryUnavailableError
from service.gallery.qdrant import QdrantGalleryStore
from tests.service.gallery.conftest import make_items, make_spec, unit_vectors

CONFIG = GalleryConfig(backend="qdrant", qdrant_url="http://in-process")


def test_only_the_gallerys_own_collections_are_listed() -> None:
    client = QdrantClient(":memory:")
    vectors = qm.VectorParams(size=4, distance=qm.Distance.COSINE)
    client.create_collection("someone_elses", vectors_config=vectors)
    client.create_collection("gallery_not_ours", vectors_config=vectors)  # prefix, no record
    with QdrantGalleryStore(CONFIG, client=client) as store:
        store.create_collection(make_spec())
        assert [c.name for c in store.list_collections()] == ["photos"]
        with pytest.raises(CollectionNotFoundError):
            store.get_collection("not_ours")
        assert client.collection_exists("gallery_photos")  # the prefix on the server


def test_in_memory_mode_works_end_to_end() -> None:
    with QdrantGalleryStore(CONFIG, client=QdrantClient(":memory:")) as store:
        store.create_collection(make_spec())
        vectors = unit_vectors(5)
        store.upsert("photos", make_items(vectors), model=ModelRef("text", 1))
        assert store.search("photos", vectors[2], top_k=1)[0].id == "item-2"


def test_an_unreachable_server_is_a_503() -> None:
    url = "http://127.0.0.1:9"  # nothing listens on the discard port
    config = GalleryConfig(backend="qdrant", qdrant_url=url)
    client = QdrantClient(url=url, timeout=2, check_compatibility=False)  # no version probe
    with (
        QdrantGalleryStore(config, client=client) as store,
        pytest.raises(GalleryUnavailableError) as caught,
    ):
        store.list_collections()
    assert caught.value.status == 503 and "127.0.0.1:9" in caught.value.message


def test_the_server_backend_needs_a_url() -> None:
    with pytest.raises(ValueError, match="qdrant_url"):
        GalleryConfig(backend="qdrant")
