"""The filter language's validation, and the id mapping, without a store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service.gallery.errors import InvalidFilterError
from service.gallery.filters import Filter, parse_filter
from service.gallery.ids import content_id, point_uuid

MALFORMED: dict[str, tuple[Any, str]] = {
    "no test": ({"must": [{"key": "a"}]}, "exactly one of match, any, range; got []"),
    "two tests": ({"must": [{"key": "a", "match": 1, "any": [1]}]}, "got ['match', 'any']"),
    "float match": ({"must": [{"key": "a", "match": 1.5}]}, "use a range for a float"),
    "bool match": ({"must": [{"key": "a", "match": True}]}, "boolean filters are not supported"),
    "bool any": ({"must": [{"key": "a", "any": [True]}]}, "boolean filters are not supported"),
    "mixed any": ({"must": [{"key": "a", "any": ["x", 1]}]}, "not a mix"),
    "empty any": ({"must": [{"key": "a", "any": []}]}, "must.0.any"),
    "bad key": ({"must": [{"key": "a b", "match": 1}]}, "must.0.key"),
    "deep key": ({"must": [{"key": "a.b.c.d.e", "match": 1}]}, "must.0.key"),
    "empty range": ({"must": [{"key": "a", "range": {}}]}, "at least one of gt, gte, lt, lte"),
    "upside-down range": ({"must": [{"key": "a", "range": {"gte": 5, "lt": 1}}]}, "lower bound"),
    "string range": ({"must": [{"key": "a", "range": {"gte": "5"}}]}, "must.0.range.gte"),
    "unknown clause": ({"filter": []}, "filter: Extra inputs are not permitted"),
    "unknown field": ({"must": [{"key": "a", "match": 1, "op": "eq"}]}, "must.0.op"),
    "not a list": ({"must": {"key": "a", "match": 1}}, "must: Input should be a valid list"),
    "too many": ({"must": [{"key": "a", "match": 1}] * 33}, "must: List should have at most 32"),
    "not an object": (["must"], "Input should be a valid dictionary"),
}


@pytest.mark.parametrize(("raw", "expected"), MALFORMED.values(), ids=MALFORMED)
def test_malformed_filters_say_what_and_where(raw: Any, expected: str) -> None:
    with pytest.raises(InvalidFilterError) as caught:
        parse_filter(raw)
    assert caught.value.status == 422 and caught.value.type == "invalid_filter"
    assert expected in caught.value.message


def test_valid_filters_parse() -> None:
    parsed = parse_filter({"must": [{"key": "camera.make", "any": ["fuji"]}], "should": []})
    assert parsed is not None and not parsed.is_empty()
    assert parse_filter(None) is None
    assert Filter().is_empty() and parse_filter(parsed) is parsed


def test_ids_map_to_fixed_uuids() -> None:
    assert point_uuid("cat.jpg") == point_uuid("cat.jpg") != point_uuid("cat.JPG")
    # Pinned: a change here would orphan every stored point.
    assert point_uuid("cat.jpg") == uuid.UUID("ec9eb566-91c8-5d06-b99f-116dd21fd71b")


def test_content_ids_are_sha256() -> None:
    assert content_id("a cat") == content_id(b"a cat")
    assert content_id(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
