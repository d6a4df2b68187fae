"""The checks every backend runs before it touches its engine.

One copy, so the two backends cannot drift apart on what they accept: the shared contract tests
hold them to it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.errors import InvalidInputError, PayloadTooLargeError
from service.gallery.config import GalleryLimits
from service.gallery.errors import DimensionMismatchError
from service.gallery.filters import KEY_PATTERN
from service.gallery.ids import point_uuid
from service.gallery.models import CollectionSpec, Item, JsonValue, ModelRef, VectorLike
from service.gallery.payload import make_payload

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_SPACE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(KEY_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_DIMENSION = 65_536
FIELD_TYPES = ("keyword", "integer", "float")


@dataclass(frozen=True)
class PreparedPoint:
    """An item checked and laid out for an engine: point id, vector, payload."""

    uuid: uuid.UUID
    vector: list[float]
    payload: dict[str, JsonValue]


def check_name(name: str) -> str:
    """A collection name, or a 422 saying what names look like."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"collection name {name!r} is invalid: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or a digit",
            field="name",
        )
    return name


def check_spec(spec: CollectionSpec, limits: GalleryLimits) -> None:
    """Every field of a new collection, or a 422 naming the first bad one."""
    check_name(spec.name)
    if isinstance(spec.dimension, bool) or not 1 <= spec.dimension <= MAX_DIMENSION:
        raise InvalidInputError(f"dimension must be 1-{MAX_DIMENSION}", field="dimension")
    if not _SPACE_PATTERN.fullmatch(spec.space):
        raise InvalidInputError(f"space {spec.space!r} is not a valid space name", field="space")
    if not spec.models:
        raise InvalidInputError(
            "a collection needs the model versions that embed it", field="models"
        )
    for model, version in spec.models.items():
        if not _SPACE_PATTERN.fullmatch(model) or isinstance(version, bool) or version < 1:
            raise InvalidInputError(f"model {model!r} v{version!r} is invalid", field="models")
    if len(spec.description) > limits.max_description_length:
        raise InvalidInputError(
            f"description is over {limits.max_description_length} characters", field="description"
        )
    for key, kind in spec.indexed_fields.items():
        if not _KEY.fullmatch(key) or kind not in FIELD_TYPES:
            raise InvalidInputError(
                f"indexed field {key!r}: {kind!r} is not one of {FIELD_TYPES}",
                field="indexed_fields",
            )


def check_item_id(item_id: str, limits: GalleryLimits) -> str:
    """An item id: 1 to ``max_id_length`` characters, no control characters."""
    if not isinstance(item_id, str) or not 1 <= len(item_id) <= limits.max_id_length:
        raise InvalidInputError(f"an item id is 1-{limits.max_id_length} characters", field="id")
    if _CONTROL.search(item_id):
        raise InvalidInputError("an item id may not contain control characters", field="id")
    return item_id


def check_ids(ids: Sequence[str], limits: GalleryLimits) -> list[str]:
    """A bounded list of item ids (duplicates dropped, order kept)."""
    if len(ids) > limits.max_batch_items:
        raise PayloadTooLargeError(f"at most {limits.max_batch_items} ids per request")
    return list(dict.fromkeys(check_item_id(i, limits) for i in ids))


def check_vector(vector: VectorLike, collection: str, dimension: int) -> list[float]:
    """A finite, non-zero vector of the collection's dimension, as a list of floats."""
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError("a vector must be a list of numbers", field="vector") from None
    if array.ndim != 1:
        raise InvalidInputError("a vector must be a flat list of numbers", field="vector")
    if array.shape[0] != dimension:
        raise DimensionMismatchError(collection, dimension, int(array.shape[0]))
    if not np.isfinite(array).all():
        raise InvalidInputError("a vector may not hold NaN or infinity", field="vector")
    if not np.any(array):
        raise InvalidInputError("a zero vector has no direction to compare", field="vector")
    as_list: list[float] = array.tolist()
    return as_list


def check_metadata(metadata: Mapping[str, Any], limits: GalleryLimits) -> dict[str, JsonValue]:
    """Item metadata as plain JSON within the size and depth limits."""
    if not isinstance(metadata, Mapping):
        raise InvalidInputError("metadata must be a JSON object", field="metadata")
    try:
        text = json.dumps(metadata, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"metadata must be plain JSON: {exc}", field="metadata") from None
    if len(text.encode("utf-8")) > limits.max_metadata_bytes:
        raise PayloadTooLargeError(
            f"an item's metadata is over {limits.max_metadata_bytes} bytes of JSON",
            field="metadata",
        )
    plain: dict[str, JsonValue] = json.loads(text)  # string keys, lists for tuples
    if _depth(plain) > limits.max_metadata_depth:
        raise InvalidInputError(
            f"metadata nests deeper than {limits.max_metadata_depth} levels", field="metadata"
        )
    return plain


def prepare_points(
    collection: str, items: Sequence[Item], dimension: int, model: ModelRef, limits: GalleryLimits
) -> list[PreparedPoint]:
    """Check a batch and lay it out; an id given twice keeps its last item."""
    if not items:
        raise InvalidInputError("nothing to add: the batch is empty", field="items")
    if len(items) > limits.max_batch_items:
        raise PayloadTooLargeError(f"at most {limits.max_batch_items} items per request")
    last = {check_item_id(item.id, limits): item for item in items}
    return [
        PreparedPoint(
            uuid=point_uuid(item_id),
            vector=check_vector(item.vector, collection, dimension),
            payload=make_payload(item_id, model, check_metadata(item.metadata, limits)),
        )
        for item_id, item in last.items()
    ]


def check_page(top_k: int, offset: int, limits: GalleryLimits) -> None:
    """Search paging within the limits."""
    if not 1 <= top_k <= limits.max_top_k:
        raise InvalidInputError(f"top_k must be 1-{limits.max_top_k}", field="top_k")
    if not 0 <= offset <= limits.max_offset:
        raise InvalidInputError(f"offset must be 0-{limits.max_offset}", field="offset")


def _depth(value: JsonValue) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0
