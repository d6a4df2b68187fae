"""The server backend: a Qdrant server or cluster through ``qdrant-client`` (URL + API key).

What replicas share when one process (the embedded store) is not enough: the server shards,
replicates and indexes by itself (its optimizer threads build HNSW, so :meth:`optimize` is a
no-op here). Collection names get ``GalleryConfig.qdrant_prefix`` on the server, and each
collection's record (dimension, space, model versions, ...) is kept in the collection's own
``metadata`` (Qdrant >= 1.16), so replicas always agree on it; it is read at every call rather
than cached, so a collection deleted or recreated by another replica is seen at once.

Writes use ``wait=True``: acknowledged once the server applied them (its WAL is its durability).

Tested against qdrant-client's in-process local mode only (no Qdrant server can be installed on
the development machines); that mode searches exactly and ignores payload indexes.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone

from qdrant_client import QdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from service.errors import InvalidInputError
from service.gallery.config import GalleryConfig
from service.gallery.errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    GalleryUnavailableError,
    InvalidFilterError,
    ItemNotFoundError,
)
from service.gallery.filters import Condition, Filter
from service.gallery.ids import point_uuid
from service.gallery.models import (
    CollectionInfo,
    CollectionSpec,
    Item,
    ModelRef,
    SearchHit,
    StoredItem,
    VectorLike,
)
from service.gallery.payload import ID_FIELD, metadata_key, search_hit, stored_item
from service.gallery.validation import (
    check_ids,
    check_item_id,
    check_name,
    check_page,
    check_spec,
    check_vector,
    prepare_points,
)
from service.gallery.versions import check_model

log = logging.getLogger(__name__)

_RECORD_KEY = "mapping_serve_gallery"  # the key of our record in a collection's metadata
_SCHEMA = {
    "keyword": qm.PayloadSchemaType.KEYWORD,
    "integer": qm.PayloadSchemaType.INTEGER,
    "float": qm.PayloadSchemaType.FLOAT,
}


class QdrantGalleryStore:
    """:class:`~service.gallery.store.GalleryStore` on a Qdrant server.

    Args:
        config: ``qdrant_url``, ``qdrant_api_key``, ``qdrant_prefix``, ``qdrant_timeout_s``.
        client: an already built client instead (tests pass ``QdrantClient(path=...)``).
    """

    def __init__(self, config: GalleryConfig, client: QdrantClient | None = None):
        self._config = config
        self._limits = config.limits
        self._prefix = config.qdrant_prefix
        self._client = client or QdrantClient(
            url=config.qdrant_url, api_key=config.qdrant_api_key, timeout=config.qdrant_timeout_s
        )
        self._closed = False

    # Collections

    def create_collection(self, spec: CollectionSpec) -> CollectionInfo:
        """See :meth:`GalleryStore.create_collection`."""
        check_spec(spec, self._limits)
        full = self._full(spec.name)
        with self._server():
            if self._client.collection_exists(full):
                raise CollectionExistsError(spec.name)
            if len(self._gallery_names()) >= self._limits.max_collections:
                raise InvalidInputError(f"at most {self._limits.max_collections} collections")
            created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                self._client.create_collection(
                    full,
                    vectors_config=qm.VectorParams(
                        size=spec.dimension, distance=qm.Distance.COSINE
                    ),
                    metadata={_RECORD_KEY: spec.to_record(created_at)},
                )
            except Exception:
                if self._client.collection_exists(full):  # another replica won the race
                    raise CollectionExistsError(spec.name) from None
                raise
            for key, kind in spec.indexed_fields.items():
                self._client.create_payload_index(full, metadata_key(key), _SCHEMA[kind])
        log.info("gallery: created collection %s on the Qdrant server", spec.name)
        return CollectionInfo(spec, created_at, 0)

    def list_collections(self) -> list[CollectionInfo]:
        """See :meth:`GalleryStore.list_collections`."""
        infos = []
        for name in sorted(self._gallery_names()):
            with contextlib.suppress(CollectionNotFoundError):  # deleted meanwhile, or not ours
                infos.append(self.get_collection(name))
        return infos

    def get_collection(self, name: str) -> CollectionInfo:
        """See :meth:`GalleryStore.get_collection`."""
        spec, created_at = self._record(name)
        return CollectionInfo(spec, created_at, self.count(name))

    def delete_collection(self, name: str) -> None:
        """See :meth:`GalleryStore.delete_collection`."""
        self._record(name)
        with self._collection(name):
            self._client.delete_collection(self._full(name))
        log.info("gallery: deleted collection %s on the Qdrant server", name)

    # Items

    def upsert(self, name: str, items: Sequence[Item], *, model: ModelRef) -> int:
        """See :meth:`GalleryStore.upsert`."""
        spec = self.get_spec(name)
        check_model(spec, model)
        points = prepare_points(name, items, spec.dimension, model, self._limits)
        structs = [
            qm.PointStruct(id=str(p.uuid), vector=p.vector, payload=p.payload) for p in points
        ]
        with self._collection(name):
            self._client.upsert(self._full(name), points=structs, wait=True)
        return len(points)

    def get(self, name: str, item_id: str, *, with_vector: bool = False) -> StoredItem:
        """See :meth:`GalleryStore.get`."""
        uuid = str(point_uuid(check_item_id(item_id, self._limits)))
        with self._collection(name):
            records = self._client.retrieve(self._full(name), [uuid], with_vectors=with_vector)
        if not records:
            raise ItemNotFoundError(name, item_id)
        return stored_item(records[0].payload or {}, records[0].vector if with_vector else None)

    def delete(self, name: str, ids: Sequence[str]) -> int:
        """See :meth:`GalleryStore.delete`."""
        uuids: list[qm.ExtendedPointId] = [str(point_uuid(i)) for i in check_ids(ids, self._limits)]
        full = self._full(name)
        with self._collection(name):
            existing = len(self._client.retrieve(full, uuids, with_payload=False)) if uuids else 0
            if existing:
                self._client.delete(full, qm.PointIdsList(points=uuids), wait=True)
        return existing

    def delete_where(self, name: str, filter: Filter) -> int:
        """See :meth:`GalleryStore.delete_where` (count and delete are two server calls)."""
        if filter.is_empty():
            raise InvalidFilterError("an empty filter matches every item; delete the collection")
        condition = _filter(filter)
        assert condition is not None  # a non-empty filter translates to one
        full = self._full(name)
        with self._collection(name):
            matched = self._client.count(full, count_filter=condition, exact=True).count
            if matched:
                self._client.delete(full, qm.FilterSelector(filter=condition), wait=True)
        return matched

    def count(self, name: str, filter: Filter | None = None) -> int:
        """See :meth:`GalleryStore.count`."""
        with self._collection(name):
            result = self._client.count(self._full(name), count_filter=_filter(filter), exact=True)
        return result.count

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
        """See :meth:`GalleryStore.search`."""
        check_page(top_k, offset, self._limits)
        spec = self.get_spec(name)
        if model is not None:
            check_model(spec, model)
        query = check_vector(vector, name, spec.dimension)
        hnsw_ef = self._config.hnsw_ef
        params = qm.SearchParams(hnsw_ef=hnsw_ef, exact=exact) if exact or hnsw_ef else None
        with self._collection(name):
            points = self._client.query_points(
                self._full(name),
                query=query,
                limit=top_k,
                offset=offset,
                query_filter=_filter(filter),
                with_payload=True if with_metadata else [ID_FIELD],
                with_vectors=with_vectors,
                search_params=params,
            ).points
        return [
            search_hit(p.payload or {}, p.score, with_metadata, p.vector if with_vectors else None)
            for p in points
        ]

    # Maintenance

    def optimize(self, name: str) -> bool:
        """Nothing to do: the server's optimizer indexes by itself (404 if unknown)."""
        self._record(name)
        return False

    def get_spec(self, name: str) -> CollectionSpec:
        """The spec of one collection (404 if unknown); one server call."""
        return self._record(name)[0]

    def close(self) -> None:
        """See :meth:`GalleryStore.close`."""
        if not self._closed:
            self._closed = True
            self._client.close()

    def __enter__(self) -> QdrantGalleryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Internals

    def _full(self, name: str) -> str:
        return self._prefix + check_name(name)

    def _gallery_names(self) -> list[str]:
        with self._server():
            names = [c.name for c in self._client.get_collections().collections]
        return [n.removeprefix(self._prefix) for n in names if n.startswith(self._prefix)]

    def _record(self, name: str) -> tuple[CollectionSpec, str]:
        with self._collection(name):
            metadata = self._client.get_collection(self._full(name)).config.metadata or {}
        record = metadata.get(_RECORD_KEY)
        if not isinstance(record, dict):  # a collection that the gallery did not make
            raise CollectionNotFoundError(name)
        return CollectionSpec.from_record(record)

    @contextlib.contextmanager
    def _collection(self, name: str) -> Iterator[None]:
        """Engine errors on an unknown collection become the 404 (server and local mode differ)."""
        full = self._full(name)
        with self._server():
            try:
                yield
            except (ValueError, UnexpectedResponse):
                if self._client.collection_exists(full):
                    raise
                raise CollectionNotFoundError(name) from None

    @contextlib.contextmanager
    def _server(self) -> Iterator[None]:
        """A server that does not answer is a 503, not a 500."""
        if self._closed:
            raise GalleryUnavailableError("the gallery store is closed")
        try:
            yield
        except ResponseHandlingException as exc:
            log.warning("gallery: the Qdrant server did not answer: %s", exc)
            raise GalleryUnavailableError(
                f"the Qdrant server at {self._config.qdrant_url} does not answer; retry later"
            ) from None


def _filter(filter: Filter | None) -> qm.Filter | None:
    if filter is None or filter.is_empty():
        return None
    return qm.Filter(
        must=_conditions(filter.must),
        should=_conditions(filter.should),
        must_not=_conditions(filter.must_not),
    )


def _conditions(conditions: list[Condition]) -> list[qm.Condition] | None:
    return [_condition(c) for c in conditions] or None


def _condition(condition: Condition) -> qm.FieldCondition:
    key = metadata_key(condition.key)
    if condition.match is not None:
        return qm.FieldCondition(key=key, match=qm.MatchValue(value=condition.match))
    if condition.any is not None:
        return qm.FieldCondition(key=key, match=qm.MatchAny(any=condition.any))
    bounds = condition.range
    assert bounds is not None  # the model allows exactly one of the three
    limits = qm.Range(gt=bounds.gt, gte=bounds.gte, lt=bounds.lt, lte=bounds.lte)
    return qm.FieldCondition(key=key, range=limits)
