"""Typed results: one frozen dataclass per thing the service answers.

Every ``from_json`` reads the fields it knows and ignores the rest, so a newer service that adds
fields does not break an older client.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Label:
    """A label of a classification head and its probability."""

    label: str
    index: int
    score: float

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Label:
        return cls(label=data["label"], index=int(data["index"]), score=float(data["score"]))


@dataclass(frozen=True)
class Head:
    """One head's answer for one item: top labels (softmax/sigmoid) or a value (regression)."""

    task: str
    type: str
    labels: list[Label] | None = None
    value: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Head:
        labels = data.get("labels")
        return cls(
            task=data.get("task", ""), type=data.get("type", ""), value=data.get("value"),
            labels=[Label.from_json(x) for x in labels] if labels is not None else None,
        )  # fmt: skip


@dataclass(frozen=True)
class Classification:
    """Every selected head of one item, keyed by head (ONNX output) name."""

    model: str
    version: int
    heads: dict[str, Head]

    def top(self, head: str | None = None) -> Label:
        """The best label of ``head`` (default: the first head that has labels)."""
        if head is not None:
            labels = self.heads[head].labels
        else:
            labels = next((h.labels for h in self.heads.values() if h.labels), None)
        if not labels:
            raise ValueError(f"no classification head with labels among {list(self.heads)}")
        return labels[0]


@dataclass(frozen=True)
class Sentiment:
    """The sentiment of one text: label, class probabilities and valence."""

    model: str
    version: int
    label: str
    probabilities: dict[str, float]
    valence: float | None = None
    valence_range: tuple[float, float] | None = None
    modalities: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any], model: str, version: int) -> Sentiment:
        span = data.get("valence_range")
        return cls(
            model=model, version=version, label=data["label"],
            probabilities={k: float(v) for k, v in data["probabilities"].items()},
            valence=data.get("valence"), valence_range=tuple(span) if span else None,
            modalities=list(data.get("modalities", [])),
        )  # fmt: skip


@dataclass(frozen=True)
class Embedding:
    """One vector in an embedding space, and the model that made it."""

    model: str
    modality: str
    vector: list[float]

    @property
    def dim(self) -> int:
        return len(self.vector)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Embedding:
        return cls(model=data["model"], modality=data["modality"], vector=data["vector"])


@dataclass(frozen=True)
class Ranked:
    """A candidate's place in a ranking: its index among the candidates you gave, best first."""

    index: int
    cosine: float
    probability: float
    text: str | None = None  # the candidate, when it was a text


@dataclass(frozen=True)
class ModelRef:
    """A model name and version (which model embedded a collection's items)."""

    name: str
    version: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ModelRef | None:
        return cls(name=data["name"], version=data.get("version")) if data else None


@dataclass(frozen=True)
class HeadInfo:
    """A head (ONNX output) as the model's manifest declares it."""

    name: str
    task: str
    type: str
    labels: list[str] | None = None
    space: str | None = None
    range: tuple[float, float] | None = None
    description: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HeadInfo:
        span = data.get("range")
        return cls(
            name=data["name"], task=data.get("task", ""), type=data.get("type", ""),
            labels=data.get("labels"), space=data.get("space"),
            range=tuple(span) if span else None,
            description=data.get("description", ""),
        )  # fmt: skip


@dataclass(frozen=True)
class ModelInfo:
    """One model of the service: state, versions, heads, provider and metrics."""

    name: str
    state: str
    version: int | None
    versions: list[int]
    providers: list[str]
    kind: str | None = None
    description: str = ""
    modalities: list[str] = field(default_factory=list)
    heads: list[HeadInfo] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    batching: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            name=data["name"], state=data.get("state", ""), version=data.get("version"),
            versions=list(data.get("versions", [])), providers=list(data.get("providers", [])),
            kind=data.get("kind"), description=data.get("description", ""),
            modalities=list(data.get("modalities", [])),
            heads=[HeadInfo.from_json(h) for h in data.get("heads", [])],
            metrics=dict(data.get("metrics", {})), reason=data.get("reason"),
            batching=data.get("batching"),
        )  # fmt: skip


@dataclass(frozen=True)
class ModelState:
    """One model's line in the readiness report."""

    state: str
    version: int | None
    providers: list[str]
    reason: str | None = None


@dataclass(frozen=True)
class Readiness:
    """``GET /health/ready``: ready once every model is loaded and warmed."""

    ready: bool
    models: dict[str, ModelState]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Readiness:
        models = {
            name: ModelState(
                m.get("state", ""), m.get("version"), list(m.get("providers", [])), m.get("reason")
            )
            for name, m in data.get("models", {}).items()
        }
        return cls(ready=bool(data.get("ready")), models=models)


@dataclass(frozen=True)
class Collection:
    """A gallery collection: items embedded in one space."""

    name: str
    space: str
    description: str = ""
    dimension: int | None = None
    count: int = 0
    models: list[ModelRef] = field(default_factory=list)
    created: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Collection:
        refs = [ModelRef.from_json(m) for m in data.get("models", [])]
        return cls(
            name=data["name"], space=data.get("space", ""),
            description=data.get("description", ""), dimension=data.get("dimension"),
            count=int(data.get("count", 0)), models=[r for r in refs if r],
            created=data.get("created"),
        )  # fmt: skip


@dataclass(frozen=True)
class AddResult:
    """What ``add`` stored: the item ids in input order and the collection's size after."""

    ids: list[str]
    count: int
    model: ModelRef | None = None


@dataclass(frozen=True)
class Item:
    """A stored gallery item."""

    id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: list[float] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        return cls(id=data["id"], metadata=data.get("metadata") or {}, vector=data.get("vector"))


@dataclass(frozen=True)
class Hit:
    """A search result: an item id, its cosine similarity to the query, and its metadata."""

    id: str
    score: float
    metadata: dict[str, Any] | None = None
    vector: list[float] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Hit:
        return cls(id=data["id"], score=float(data["score"]), metadata=data.get("metadata"),
                   vector=data.get("vector"))  # fmt: skip


@dataclass(frozen=True)
class SearchResults:
    """Hits best first (iterate, index or ``len()`` it), and the model that embedded the query."""

    hits: list[Hit]
    model: ModelRef | None = None

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, index: int) -> Hit:
        return self.hits[index]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchResults:
        return cls(hits=[Hit.from_json(h) for h in data.get("results", [])],
                   model=ModelRef.from_json(data.get("model")))  # fmt: skip


@dataclass(frozen=True)
class DeleteResult:
    """How many items a delete removed, and the collection's size after."""

    deleted: int
    count: int
