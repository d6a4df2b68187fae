"""The gallery's values: what a collection is, what goes in, what comes out.

Frozen dataclasses rather than pydantic models: an ingest of 100,000 items builds that many, and
the API layer validates the client's JSON before anything here is built.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

#: A vector as a caller may hand it over: a list of floats or a 1-d numpy array.
VectorLike = Sequence[float] | npt.NDArray[np.floating[Any]]
#: The payload-index types a collection may declare for its metadata fields.
FieldType = Literal["keyword", "integer", "float"]
#: JSON values (metadata is any JSON object within the limits).
JsonValue = Any
#: Version of the persisted collection record; bump it with a migration when its fields change.
RECORD_FORMAT = 1


@dataclass(frozen=True)
class ModelRef:
    """A model and the version of it that produced (or must produce) vectors."""

    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True)
class CollectionSpec:
    """What a client asks for when it creates a collection.

    Attributes:
        name: lowercase letters, digits, ``-`` and ``_``; 1-64 characters, starting with a letter
            or a digit (it names a directory of the embedded store).
        dimension: length of every vector in the collection.
        space: the embedding space the vectors live in (``semantic``, ``shapes``, ...).
        models: the models, name -> version, whose vectors the collection accepts: every model
            that embeds into ``space`` (e.g. ``{"vision": 1, "text": 1}`` for ``semantic``). A
            write or a model-made query by any other version is refused with a 409.
        description: free text shown in listings.
        indexed_fields: metadata fields to build a payload index for (faster filters on large
            collections); filters work on every field without one.
    """

    name: str
    dimension: int
    space: str
    models: Mapping[str, int]
    description: str = ""
    indexed_fields: Mapping[str, FieldType] = field(default_factory=dict)

    def to_record(self, created_at: str) -> dict[str, Any]:
        """The JSON object a backend persists for the collection (``from_record`` reads it)."""
        return {
            "format": RECORD_FORMAT,
            "name": self.name,
            "dimension": self.dimension,
            "space": self.space,
            "models": dict(self.models),
            "description": self.description,
            "indexed_fields": dict(self.indexed_fields),
            "created_at": created_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> tuple[CollectionSpec, str]:
        """The spec and creation time stored by ``to_record``."""
        if record.get("format") != RECORD_FORMAT:
            raise ValueError(f"unknown collection record format {record.get('format')!r}")
        spec = cls(
            name=str(record["name"]),
            dimension=int(record["dimension"]),
            space=str(record["space"]),
            models={str(k): int(v) for k, v in record["models"].items()},
            description=str(record["description"]),
            indexed_fields=dict(record["indexed_fields"]),
        )
        return spec, str(record["created_at"])


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as the store reports it: its spec, its creation time, its item count."""

    spec: CollectionSpec
    created_at: str  # ISO 8601, UTC
    item_count: int

    @property
    def name(self) -> str:
        """The collection's name."""
        return self.spec.name


@dataclass(frozen=True)
class Item:
    """One thing to store: a client id, its vector and a JSON object of metadata."""

    id: str
    vector: VectorLike
    metadata: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredItem:
    """An item read back; ``vector`` only when asked for (normalised: the space is cosine)."""

    id: str
    metadata: dict[str, JsonValue]
    model: ModelRef
    vector: list[float] | None = None


@dataclass(frozen=True)
class SearchHit:
    """One search result: ``score`` is the cosine similarity, in [-1, 1], higher is closer."""

    id: str
    score: float
    metadata: dict[str, JsonValue] | None = None
    vector: list[float] | None = None
