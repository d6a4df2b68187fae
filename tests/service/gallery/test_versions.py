"""The version policy, without a store."""

from __future__ import annotations

import pytest

from service.errors import InvalidInputError
from service.gallery import CollectionInfo, ModelRef
from service.gallery.errors import ModelVersionMismatchError
from service.gallery.versions import check_model, check_space, query_model
from tests.service.gallery.conftest import make_spec

INFO = CollectionInfo(make_spec(), "2026-01-01T00:00:00+00:00", 3)


def test_the_recorded_versions_may_write_and_query() -> None:
    check_model(INFO.spec, ModelRef("vision", 1))
    check_model(INFO.spec, ModelRef("text", 1))


def test_another_version_is_a_409_that_says_how_to_reembed() -> None:
    with pytest.raises(ModelVersionMismatchError) as caught:
        check_model(INFO.spec, ModelRef("text", 2))
    error = caught.value
    assert error.status == 409 and error.type == "model_version_mismatch"
    assert "embedded by text v1, not v2" in error.message
    assert "create a new collection and add the items again" in error.message
    assert "load text v1 again" in error.message
    assert error.details["collection_version"] == 1 and error.details["requested_version"] == 2


def test_a_model_the_collection_does_not_record_is_a_409() -> None:
    with pytest.raises(ModelVersionMismatchError, match="holds vectors of text v1, vision v1"):
        check_model(INFO.spec, ModelRef("shapes-align", 1))


def test_queries_stay_pinned_to_the_collections_version_while_it_is_loaded() -> None:
    assert query_model(INFO, "text", loaded_versions={1, 2}) == ModelRef("text", 1)


def test_queries_are_a_409_once_that_version_is_gone() -> None:
    with pytest.raises(ModelVersionMismatchError) as caught:
        query_model(INFO, "text", loaded_versions={2, 3})
    assert "text v1, which is not loaded (loaded: [2, 3])" in caught.value.message
    assert "to search it with text v3, create a new collection" in caught.value.message
    with pytest.raises(ModelVersionMismatchError, match="loaded: none"):
        query_model(INFO, "text", loaded_versions=set())
    with pytest.raises(ModelVersionMismatchError, match="not of model 'audio'"):
        query_model(INFO, "audio", loaded_versions={1})


def test_a_query_from_another_space_is_a_422() -> None:
    check_space(INFO.spec, "semantic")
    with pytest.raises(InvalidInputError, match="lives in the 'semantic' space") as caught:
        check_space(INFO.spec, "shapes")
    assert caught.value.status == 422
