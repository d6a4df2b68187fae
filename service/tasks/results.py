"""What the tasks return: plain, typed results, one type per head kind; no HTTP in sight.

The API's response models are built from these objects directly (``model_validate`` reads their
attributes), so a field is named once here and once in the schema the client sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Label:
    """One scored label of a classification head."""

    label: str
    index: int
    score: float


@dataclass(frozen=True)
class LabelsResult:
    """A classification head's answer (``softmax`` or ``sigmoid``): its top-k labels."""

    task: str
    type: str
    labels: list[Label]


@dataclass(frozen=True)
class ValueResult:
    """A regression head's answer: one value."""

    task: str
    type: str
    value: float


HeadResult = LabelsResult | ValueResult


@dataclass(frozen=True)
class VectorResult:
    """An embedding head's answer: one vector, and the model, output and modality behind it."""

    model: str
    output: str
    modality: str
    vector: np.ndarray

    @property
    def dim(self) -> int:
        """The vector's length."""
        return int(self.vector.size)


@dataclass(frozen=True)
class ItemHeads:
    """The selected heads of one item, keyed by output name."""

    heads: dict[str, HeadResult]


@dataclass(frozen=True)
class ClassifyResult:
    """One result per item, in request order, and the model that answered."""

    model: str
    version: int
    results: list[ItemHeads]


@dataclass(frozen=True)
class Sentiment:
    """One item's sentiment: the label head's argmax and probabilities, the valence head's value."""

    label: str
    probabilities: dict[str, float]
    valence: float | None
    valence_range: tuple[float, float] | None
    modalities: list[str]


@dataclass(frozen=True)
class SentimentResult:
    """One sentiment per item, in request order."""

    model: str
    version: int
    results: list[Sentiment]


@dataclass(frozen=True)
class EmbedResult:
    """One vector per input, in request order."""

    space: str
    embeddings: list[VectorResult]


@dataclass(frozen=True)
class SimilarityResult:
    """One cosine per pair, in request order."""

    space: str
    scores: list[float]


@dataclass(frozen=True)
class Ranked:
    """A candidate's place: its index, cosine and softmax probability, and what identifies it."""

    index: int
    cosine: float
    probability: float
    id: str | None
    text: str | None


@dataclass(frozen=True)
class RankResult:
    """Candidates best first."""

    space: str
    temperature: float
    results: list[Ranked]
