"""The payload every point is stored with, the same in both backends, and reading it back.

::

    {"id": "<client id>", "model": "<model name>", "model_version": 1, "metadata": {...}}

Client metadata sits under ``metadata`` so that no client key can collide with the store's own
(``id`` holds the client's id, see :mod:`service.gallery.ids`); filter keys are translated to
``metadata.<key>``. ``model``/``model_version`` record which tower made each vector (an image or
a text item), next to the collection-wide version policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.gallery.models import JsonValue, ModelRef, SearchHit, StoredItem

#: The payload fields a search without metadata still reads.
ID_FIELD = "id"


def make_payload(item_id: str, model: ModelRef, metadata: dict[str, JsonValue]) -> dict[str, Any]:
    """The payload of one point."""
    version = model.version
    return {ID_FIELD: item_id, "model": model.name, "model_version": version, "metadata": metadata}


def metadata_key(key: str) -> str:
    """Where a filter's metadata key lives in the payload."""
    return f"metadata.{key}"


def stored_item(payload: Mapping[str, Any], vector: Any) -> StoredItem:
    """An item from its payload (and its vector, when it was read)."""
    return StoredItem(
        id=str(payload[ID_FIELD]),
        metadata=dict(payload.get("metadata") or {}),
        model=ModelRef(str(payload["model"]), int(payload["model_version"])),
        vector=None if vector is None else as_vector(vector),
    )


def search_hit(payload: Mapping[str, Any], score: float, metadata: bool, vector: Any) -> SearchHit:
    """A search result from a scored point's payload (and vector, when asked for)."""
    return SearchHit(
        id=str(payload[ID_FIELD]),
        score=float(score),
        metadata=dict(payload.get("metadata") or {}) if metadata else None,
        vector=None if vector is None else as_vector(vector),
    )


def as_vector(vector: Any) -> list[float]:
    """An engine's vector as a list of floats (named vectors: the default, unnamed one)."""
    if isinstance(vector, Mapping):
        vector = vector[""]
    return [float(x) for x in vector]
