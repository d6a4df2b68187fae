"""The store contract: every test runs against both backends (see ``conftest.backend``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.errors import InvalidInputError, PayloadTooLargeError, ServiceError
from service.gallery import CollectionSpec, GalleryLimits, GalleryStore, Item, ModelRef
from service.gallery.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    DimensionMismatchError,
    GalleryUnavailableError,
    InvalidFilterError,
    ItemNotFoundError,
    ModelVersionMismatchError,
)
from service.gallery.filters import Filter, parse_filter
from tests.service.gallery.conftest import DIM, Opener, make_items, make_spec, unit_vectors

# qdrant-client's local mode says that it ignores payload indexes and search params.
pytestmark = [
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning"),
    pytest.mark.filterwarnings("ignore:Local mode performs exact:UserWarning"),
]

VISION = ModelRef("vision", 1)


def filled(store: GalleryStore, count: int = 10, name: str = "photos") -> np.ndarray:
    """Create ``name`` and add ``count`` items; returns their vectors."""
    store.create_collection(make_spec(name))
    vectors = unit_vectors(count)
    assert store.upsert(name, make_items(vectors), model=VISION) == count
    return vectors


def where(raw: dict[str, Any]) -> Filter:
    parsed = parse_filter(raw)
    assert parsed is not None
    return parsed


# Collections


def test_create_get_list_delete_collection(store: GalleryStore) -> None:
    spec = make_spec(description="holiday photos", indexed_fields={"colour": "keyword"})
    created = store.create_collection(spec)
    assert created.spec == spec and created.item_count == 0 and created.created_at
    store.create_collection(make_spec("albums", dimension=4, space="shapes", models={"s": 2}))
    assert [c.name for c in store.list_collections()] == ["albums", "photos"]
    got = store.get_collection("photos")
    assert got.spec == spec and got.created_at == created.created_at
    store.delete_collection("photos")
    assert [c.name for c in store.list_collections()] == ["albums"]
    with pytest.raises(CollectionNotFoundError):
        store.get_collection("photos")


def test_list_reports_item_counts(store: GalleryStore) -> None:
    filled(store, 7)
    assert [(c.name, c.item_count) for c in store.list_collections()] == [("photos", 7)]
    assert store.get_collection("photos").spec.models == {"vision": 1, "text": 1}


def test_creating_a_taken_name_is_a_conflict(store: GalleryStore) -> None:
    store.create_collection(make_spec())
    with pytest.raises(CollectionExistsError) as caught:
        store.create_collection(make_spec(dimension=4))
    assert caught.value.status == 409


def test_a_deleted_name_can_be_reused_empty(store: GalleryStore) -> None:
    filled(store, 3)
    store.delete_collection("photos")
    store.create_collection(make_spec(dimension=4))
    assert store.count("photos") == 0
    assert store.get_collection("photos").spec.dimension == 4


@pytest.mark.parametrize(
    "overrides",
    [
        {"name": "Photos"},
        {"name": "-x"},
        {"name": "a" * 65},
        {"name": "../etc"},
        {"dimension": 0},
        {"models": {}},
        {"models": {"vision": 0}},
        {"space": ""},
        {"description": "x" * 1001},
        {"indexed_fields": {"colour": "bool"}},
        {"indexed_fields": {"bad key": "keyword"}},
    ],
)
def test_a_bad_spec_is_refused(store: GalleryStore, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidInputError) as caught:
        store.create_collection(make_spec(**overrides))
    assert caught.value.status == 422
    assert store.list_collections() == []


CALLS: dict[str, Callable[[GalleryStore, str], object]] = {
    "get_collection": lambda s, name: s.get_collection(name),
    "delete_collection": lambda s, name: s.delete_collection(name),
    "upsert": lambda s, name: s.upsert(name, make_items(unit_vectors(1)), model=VISION),
    "get": lambda s, name: s.get(name, "x"),
    "delete": lambda s, name: s.delete(name, ["x"]),
    "delete_where": lambda s, name: s.delete_where(
        name, where({"must": [{"key": "n", "match": 1}]})
    ),
    "count": lambda s, name: s.count(name),
    "search": lambda s, name: s.search(name, unit_vectors(1)[0]),
    "optimize": lambda s, name: s.optimize(name),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
def test_every_call_on_an_unknown_collection_is_a_404(
    store: GalleryStore, call: Callable[[GalleryStore, str], object]
) -> None:
    store.create_collection(make_spec())  # another collection exists
    with pytest.raises(CollectionNotFoundError) as caught:
        call(store, "nope")
    assert caught.value.status == 404 and "nope" in caught.value.message


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
def test_every_call_with_an_invalid_name_is_a_422(
    store: GalleryStore, call: Callable[[GalleryStore, str], object]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        call(store, "Not A Name")
    assert caught.value.status == 422 and "lowercase" in caught.value.message


# Items


def test_upsert_then_get_returns_metadata_model_and_normalised_vector(store: GalleryStore) -> None:
    store.create_collection(make_spec())
    raw = np.arange(1, DIM + 1, dtype=np.float32)
    store.upsert("photos", [Item("cat.jpg", raw, {"caption": "a cat", "n": 3})], model=VISION)
    item = store.get("photos", "cat.jpg", with_vector=True)
    assert item.id == "cat.jpg" and item.metadata == {"caption": "a cat", "n": 3}
    assert item.model == VISION
    assert item.vector is not None
    np.testing.assert_allclose(item.vector, raw / np.linalg.norm(raw), rtol=1e-5)
    assert store.get("photos", "cat.jpg").vector is None


def test_reupserting_the_same_ids_is_idempotent_and_replaces(store: GalleryStore) -> None:
    vectors = filled(store, 5)
    again = [Item(f"item-{i}", v, {"n": 100 + i}) for i, v in enumerate(vectors)]
    assert store.upsert("photos", again, model=VISION) == 5
    assert store.count("photos") == 5
    assert store.get("photos", "item-2").metadata == {"n": 102}


def test_an_id_given_twice_in_a_batch_keeps_the_last(store: GalleryStore) -> None:
    store.create_collection(make_spec())
    first, second = unit_vectors(2)
    batch = [Item("a", first, {"v": 1}), Item("a", second, {"v": 2})]
    written = store.upsert("photos", batch, model=VISION)
    assert written == 1 and store.count("photos") == 1
    assert store.get("photos", "a").metadata == {"v": 2}


def test_any_string_id_works(store: GalleryStore) -> None:
    store.create_collection(make_spec())
    ids = ["photos/2024/IMG 0001.JPG", "é🙂", "0" * 64, "x" * 256]
    store.upsert(
        "photos", [Item(i, v) for i, v in zip(ids, unit_vectors(4), strict=True)], model=VISION
    )
    assert sorted(store.get("photos", i).id for i in ids) == sorted(ids)


def test_getting_an_unknown_item_is_a_404(store: GalleryStore) -> None:
    filled(store, 2)
    with pytest.raises(ItemNotFoundError) as caught:
        store.get("photos", "missing")
    assert caught.value.status == 404


def test_delete_by_ids_counts_what_existed(store: GalleryStore) -> None:
    filled(store, 6)
    assert store.delete("photos", ["item-0", "item-1", "nope", "item-1"]) == 2
    assert store.count("photos") == 4
    assert store.delete("photos", ["nope"]) == 0
    assert store.delete("photos", []) == 0
    with pytest.raises(ItemNotFoundError):
        store.get("photos", "item-0")


def test_delete_where_removes_the_matches(store: GalleryStore) -> None:
    filled(store, 9)
    assert store.delete_where("photos", where({"must": [{"key": "colour", "match": "red"}]})) == 3
    assert store.count("photos") == 6
    assert store.count("photos", where({"must": [{"key": "colour", "match": "red"}]})) == 0


def test_delete_where_refuses_an_empty_filter(store: GalleryStore) -> None:
    filled(store, 3)
    with pytest.raises(InvalidFilterError) as caught:
        store.delete_where("photos", Filter())
    assert caught.value.status == 422 and store.count("photos") == 3


# Bad items


@pytest.mark.parametrize(
    ("vector", "error"),
    [
        (np.ones(DIM + 1), DimensionMismatchError),
        (np.ones(DIM - 1), DimensionMismatchError),
        (np.full(DIM, np.nan), InvalidInputError),
        (np.full(DIM, np.inf), InvalidInputError),
        (np.zeros(DIM), InvalidInputError),
        (np.ones((2, DIM)), InvalidInputError),
        (["a"] * DIM, InvalidInputError),
    ],
)
def test_a_bad_vector_is_a_422_for_writes_and_searches(
    store: GalleryStore, vector: Any, error: type[ServiceError]
) -> None:
    filled(store, 2)
    with pytest.raises(error) as caught:
        store.upsert("photos", [Item("bad", vector)], model=VISION)
    assert caught.value.status == 422
    with pytest.raises(error):
        store.search("photos", vector)
    assert store.count("photos") == 2


def test_a_wrong_dimension_says_both_dimensions(store: GalleryStore) -> None:
    filled(store, 1)
    with pytest.raises(DimensionMismatchError) as caught:
        store.search("photos", np.ones(3))
    assert caught.value.details == {"collection": "photos", "expected": DIM, "got": 3}


def test_a_bad_item_fails_the_whole_batch(store: GalleryStore) -> None:
    store.create_collection(make_spec())
    items = [*make_items(unit_vectors(3)), Item("bad", np.ones(3))]
    with pytest.raises(DimensionMismatchError):
        store.upsert("photos", items, model=VISION)
    assert store.count("photos") == 0


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (Item("", np.ones(DIM)), InvalidInputError),
        (Item("x" * 257, np.ones(DIM)), InvalidInputError),
        (Item("a\nb", np.ones(DIM)), InvalidInputError),
        (Item("a", np.ones(DIM), {"x": "y" * 20_000}), PayloadTooLargeError),
        (Item("a", np.ones(DIM), {"a": {"b": {"c": {"d": {"e": 1}}}}}), InvalidInputError),
        (Item("a", np.ones(DIM), {"x": float("nan")}), InvalidInputError),
        (Item("a", np.ones(DIM), {"x": object()}), InvalidInputError),
        (Item("a", np.ones(DIM), ["not", "an", "object"]), InvalidInputError),  # type: ignore[arg-type]
    ],
)
def test_bad_ids_and_metadata_are_refused(
    store: GalleryStore, item: Item, error: type[ServiceError]
) -> None:
    store.create_collection(make_spec())
    with pytest.raises(error):
        store.upsert("photos", [item], model=VISION)
    assert store.count("photos") == 0


def test_batch_and_paging_limits(opener: Opener) -> None:
    store = opener(limits=GalleryLimits(max_batch_items=4, max_top_k=5, max_offset=6))
    store.create_collection(make_spec())
    with pytest.raises(PayloadTooLargeError):
        store.upsert("photos", make_items(unit_vectors(5)), model=VISION)
    with pytest.raises(InvalidInputError):
        store.search("photos", unit_vectors(1)[0], top_k=6)
    with pytest.raises(InvalidInputError):
        store.search("photos", unit_vectors(1)[0], top_k=0)
    with pytest.raises(InvalidInputError):
        store.search("photos", unit_vectors(1)[0], offset=7)
    with pytest.raises(PayloadTooLargeError):
        store.delete("photos", ["a", "b", "c", "d", "e"])


# Model versions


def test_writes_by_another_model_version_are_a_409(store: GalleryStore) -> None:
    filled(store, 2)
    for model in (ModelRef("vision", 2), ModelRef("audio", 1)):
        with pytest.raises(ModelVersionMismatchError) as caught:
            store.upsert("photos", make_items(unit_vectors(1), "new"), model=model)
        assert caught.value.status == 409
    assert store.count("photos") == 2
    store.upsert("photos", make_items(unit_vectors(1), "text"), model=ModelRef("text", 1))
    assert store.count("photos") == 3


def test_searches_by_another_model_version_are_a_409(store: GalleryStore) -> None:
    vectors = filled(store, 2)
    with pytest.raises(ModelVersionMismatchError) as caught:
        store.search("photos", vectors[0], model=ModelRef("text", 2))
    assert "create a new collection" in caught.value.message
    assert store.search("photos", vectors[0], model=ModelRef("text", 1))[0].id == "item-0"
    assert store.search("photos", vectors[0])[0].id == "item-0"  # a raw vector: no model


# Search


def test_search_returns_cosine_scores_best_first(store: GalleryStore) -> None:
    vectors = filled(store, 10)
    query = vectors[3] + 0.3 * unit_vectors(1, seed=9)[0]
    hits = store.search("photos", query, top_k=4)
    expected = vectors @ (query / np.linalg.norm(query))
    order = np.argsort(-expected)[:4]
    assert [h.id for h in hits] == [f"item-{i}" for i in order]
    np.testing.assert_allclose([h.score for h in hits], expected[order], atol=1e-5)
    assert hits[0].metadata is not None and hits[0].metadata["n"] == 3
    assert hits[0].vector is None


def test_search_pages_with_offset(store: GalleryStore) -> None:
    vectors = filled(store, 10)
    everything = [h.id for h in store.search("photos", vectors[0], top_k=10)]
    assert [h.id for h in store.search("photos", vectors[0], top_k=3, offset=2)] == everything[2:5]
    assert store.search("photos", vectors[0], top_k=5, offset=9) == store.search(
        "photos", vectors[0], top_k=1, offset=9
    )
    assert len(store.search("photos", vectors[0], top_k=5, offset=9)) == 1


def test_search_without_metadata_and_with_vectors(store: GalleryStore) -> None:
    vectors = filled(store, 4)
    hit = store.search("photos", vectors[1], top_k=1, with_metadata=False, with_vectors=True)[0]
    assert hit.id == "item-1" and hit.metadata is None
    assert hit.vector is not None
    np.testing.assert_allclose(hit.vector, vectors[1], atol=1e-5)


def test_exact_search_agrees_with_the_index(store: GalleryStore) -> None:
    vectors = filled(store, 10)
    fast = store.search("photos", vectors[5], top_k=5)
    exact = store.search("photos", vectors[5], top_k=5, exact=True)
    assert [h.id for h in fast] == [h.id for h in exact]


def test_search_on_an_empty_collection_finds_nothing(store: GalleryStore) -> None:
    store.create_collection(make_spec())
    assert store.search("photos", unit_vectors(1)[0]) == []


def test_optimize_keeps_every_item_searchable(store: GalleryStore) -> None:
    vectors = filled(store, 10)
    assert isinstance(store.optimize("photos"), bool)
    assert store.count("photos") == 10
    assert store.search("photos", vectors[7], top_k=1)[0].id == "item-7"


# Filters


FILTERS: dict[str, tuple[dict[str, Any], set[int]]] = {
    "match string": ({"must": [{"key": "colour", "match": "green"}]}, {1, 4, 7}),
    "match integer": ({"must": [{"key": "n", "match": 4}]}, {4}),
    "any strings": ({"must": [{"key": "colour", "any": ["red", "blue"]}]}, {0, 2, 3, 5, 6, 8, 9}),
    "any integers": ({"must": [{"key": "n", "any": [1, 2, 30]}]}, {1, 2}),
    "range gte lt": ({"must": [{"key": "n", "range": {"gte": 2, "lt": 5}}]}, {2, 3, 4}),
    "range gt lte float": ({"must": [{"key": "score", "range": {"gt": 0.65, "lte": 0.8}}]}, {7, 8}),
    "and": (
        {"must": [{"key": "colour", "match": "red"}, {"key": "n", "range": {"gt": 0}}]},
        {3, 6, 9},
    ),
    "nested key": ({"must": [{"key": "camera.make", "match": "leica"}]}, {5, 6, 7, 8, 9}),
    "array element": ({"must": [{"key": "tags", "match": "even"}]}, {0, 2, 4, 6, 8}),
    "must_not": ({"must_not": [{"key": "colour", "match": "red"}]}, {1, 2, 4, 5, 7, 8}),
    "should": ({"should": [{"key": "n", "match": 1}, {"key": "n", "match": 8}]}, {1, 8}),
    "no match": ({"must": [{"key": "colour", "match": "purple"}]}, set()),
    "missing field": ({"must": [{"key": "nope", "match": 1}]}, set()),
    "empty": ({}, set(range(10))),
}


@pytest.mark.parametrize(("raw", "expected"), FILTERS.values(), ids=FILTERS)
def test_filters_in_search_and_count(
    store: GalleryStore, raw: dict[str, Any], expected: set[int]
) -> None:
    vectors = filled(store, 10)
    hits = store.search("photos", vectors[0], top_k=10, filter=where(raw))
    assert {int(h.id.split("-")[1]) for h in hits} == expected
    assert store.count("photos", where(raw)) == len(expected)


def test_indexed_fields_filter_the_same(store: GalleryStore) -> None:
    indexed = {"colour": "keyword", "n": "integer", "score": "float"}
    store.create_collection(make_spec(indexed_fields=indexed))
    store.upsert("photos", make_items(unit_vectors(10)), model=VISION)
    for raw, expected in FILTERS.values():
        assert store.count("photos", where(raw)) == len(expected), raw


def test_a_malformed_filter_is_a_422() -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter({"must": [{"key": "n", "match": True}]})
    assert caught.value.status == 422 and "boolean" in caught.value.message


# Persistence and lifecycle


def test_everything_survives_a_reopen(opener: Opener) -> None:
    store = opener()
    spec = make_spec(description="kept", indexed_fields={"colour": "keyword"})
    store.create_collection(spec)
    vectors = unit_vectors(20)
    store.upsert("photos", make_items(vectors), model=VISION)
    store.delete("photos", ["item-0"])
    before = store.get_collection("photos")
    store.close()

    again = opener()
    info = again.get_collection("photos")
    assert info.spec == spec and info.created_at == before.created_at and info.item_count == 19
    assert again.get("photos", "item-3").metadata["colour"] == "red"
    assert again.search("photos", vectors[11], top_k=1)[0].id == "item-11"
    with pytest.raises(ItemNotFoundError):
        again.get("photos", "item-0")


def test_a_closed_store_refuses_calls(store: GalleryStore) -> None:
    filled(store, 1)
    store.close()
    store.close()  # idempotent
    with pytest.raises(GalleryUnavailableError) as caught:
        store.count("photos")
    assert caught.value.status == 503
    with pytest.raises(GalleryUnavailableError):
        store.list_collections()


def test_specs_compare_by_value() -> None:
    assert make_spec() == CollectionSpec("photos", DIM, "semantic", {"vision": 1, "text": 1})
