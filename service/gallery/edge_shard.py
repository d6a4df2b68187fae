"""qdrant-edge specifics: how a collection's shard is configured, and filters in its terms."""

from __future__ import annotations

from pathlib import Path

import qdrant_edge as qe

from service.gallery.filters import Condition, Filter
from service.gallery.models import CollectionSpec
from service.gallery.payload import metadata_key

_SCHEMA = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
}


def create_shard(path: Path, spec: CollectionSpec) -> qe.EdgeShard:
    """A new, flushed shard for the collection: cosine vectors, the declared payload indexes.

    HNSW and optimizer settings are the engine's defaults (m 16, ef_construct 100; a segment is
    indexed once it is over the engine's indexing threshold), measured adequate in
    ``bench/gallery_store.py``.
    """
    vectors = qe.EdgeVectorParams(size=spec.dimension, distance=qe.Distance.Cosine)
    shard = qe.EdgeShard.create(str(path), qe.EdgeConfig(vectors=vectors))
    try:
        for key, kind in spec.indexed_fields.items():
            shard.update(qe.UpdateOperation.create_field_index(metadata_key(key), _SCHEMA[kind]))
        shard.flush()
    except BaseException:
        shard.close()
        raise
    return shard


def edge_filter(filter: Filter | None) -> qe.Filter | None:
    """The engine's filter for ours (None matches everything)."""
    if filter is None or filter.is_empty():
        return None
    return qe.Filter(
        must=_conditions(filter.must),
        should=_conditions(filter.should),
        must_not=_conditions(filter.must_not),
    )


def _conditions(conditions: list[Condition]) -> list[qe.ConditionType] | None:
    return [_condition(c) for c in conditions] or None


def _condition(condition: Condition) -> qe.FieldCondition:
    key = metadata_key(condition.key)
    if condition.match is not None:
        return qe.FieldCondition(key, match=qe.MatchValue(condition.match))
    if condition.any is not None:
        return qe.FieldCondition(key, match=qe.MatchAny(condition.any))
    bounds = condition.range
    assert bounds is not None  # the model allows exactly one of the three
    limits = qe.RangeFloat(
        gt=_float(bounds.gt), gte=_float(bounds.gte), lt=_float(bounds.lt), lte=_float(bounds.lte)
    )
    return qe.FieldCondition(key, range=limits)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)
