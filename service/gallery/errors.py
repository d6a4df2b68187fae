"""Gallery domain errors: each carries its HTTP status, so the service's one handler renders them.

They subclass :class:`service.errors.ServiceError` (or one of its 4xx classes), so nothing in the
gallery imports FastAPI and nothing in the API layer needs a new ``except``.
"""

from __future__ import annotations

from service.errors import InvalidInputError, ServiceError


class CollectionNotFoundError(ServiceError):
    """No collection of that name (404)."""

    status = 404
    type = "not_found"

    def __init__(self, name: str):
        super().__init__(
            f"no collection named {name!r}; list them with GET /v1/collections", collection=name
        )


class ItemNotFoundError(ServiceError):
    """No item with that id in the collection (404)."""

    status = 404
    type = "not_found"

    def __init__(self, collection: str, item_id: str):
        super().__init__(
            f"collection {collection!r} has no item with id {item_id!r}",
            collection=collection,
            id=item_id,
        )


class CollectionExistsError(ServiceError):
    """A collection of that name exists already (409)."""

    status = 409
    type = "conflict"

    def __init__(self, name: str):
        super().__init__(
            f"a collection named {name!r} exists already; delete it first or pick another name",
            collection=name,
        )


class DimensionMismatchError(InvalidInputError):
    """A vector's length is not the collection's dimension (422)."""

    def __init__(self, collection: str, expected: int, got: int):
        super().__init__(
            f"collection {collection!r} holds {expected}-d vectors, got {got}-d",
            collection=collection,
            expected=expected,
            got=got,
        )


class InvalidFilterError(InvalidInputError):
    """A metadata filter that does not parse or cannot be evaluated (422)."""

    type = "invalid_filter"


class ModelVersionMismatchError(ServiceError):
    """The collection was embedded by another version (or another model) than this one (409).

    Vectors of two model versions live in two different spaces, so they are never mixed: the
    message says how to re-embed.
    """

    status = 409
    type = "model_version_mismatch"


class GalleryUnavailableError(ServiceError):
    """The store cannot serve: its data directory is held by another process, or it is closed,
    or the Qdrant server does not answer (503)."""

    status = 503
    type = "not_ready"
