"""Turn model outputs into answers: head selection, top-k labels, cosine scores, ranking.

Pure numpy on manifest data; the API layer only wraps the results in response models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contract.manifest import Manifest, OutputSpec
from service.errors import InvalidInputError, ModelNotFoundError

CLASSIFIER_TYPES = ("softmax", "sigmoid")


@dataclass(frozen=True)
class Label:
    """One scored label of a classification head."""

    label: str
    index: int
    score: float


def select_heads(manifest: Manifest, tasks: Sequence[str] | None) -> list[OutputSpec]:
    """Non-embedding heads named (by output name or task) in ``tasks``; all of them when None."""
    heads = [o for o in manifest.outputs if o.type != "embedding"]
    if tasks is None:
        if not heads:
            raise InvalidInputError(
                f"model {manifest.name!r} has no classification or regression heads; "
                "use /v1/embed for its embeddings",
                model=manifest.name,
            )
        return heads
    chosen: list[OutputSpec] = []
    for task in dict.fromkeys(tasks):
        matches = [o for o in heads if task in (o.name, o.task)]
        if not matches:
            known = ", ".join(o.name for o in heads) or "none"
            raise ModelNotFoundError(
                f"model {manifest.name!r} has no head {task!r}; its heads: {known}",
                model=manifest.name,
                head=task,
            )
        chosen.extend(m for m in matches if m not in chosen)
    return chosen


def top_labels(scores: np.ndarray, labels: Sequence[str], k: int) -> list[Label]:
    """The ``k`` highest-scoring labels of one row, best first."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-flat, kind="stable")[: max(1, k)]
    return [Label(labels[i], int(i), float(flat[i])) for i in order]


def regression_value(row: np.ndarray) -> float:
    """A regression head's value for one item (``(1,)`` or scalar rows)."""
    return float(np.asarray(row, dtype=np.float64).reshape(-1)[0])


def sentiment_heads(manifest: Manifest) -> tuple[OutputSpec, OutputSpec | None]:
    """The sentiment classifier (task/name ``sentiment``, else the first softmax head) and an
    optional valence regression head (task/name ``valence``, else the first regression head)."""
    softmax = [o for o in manifest.outputs if o.type == "softmax"]
    regression = [o for o in manifest.outputs if o.type == "regression"]
    if not softmax:
        raise InvalidInputError(
            f"model {manifest.name!r} has no softmax head to read a sentiment from",
            model=manifest.name,
        )
    label = next((o for o in softmax if "sentiment" in (o.name, o.task)), softmax[0])
    valence = next((o for o in regression if "valence" in (o.name, o.task)), None)
    return label, valence or (regression[0] if regression else None)


def unit(vector: np.ndarray) -> np.ndarray:
    """The L2-normalised float64 copy of ``vector`` (zero stays zero)."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors of the same space."""
    if a.size != b.size:
        raise InvalidInputError(f"cannot compare vectors of sizes {a.size} and {b.size}")
    return float(np.dot(unit(a), unit(b)))


def rank(
    query: np.ndarray, candidates: Sequence[np.ndarray], temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the query with every candidate, and CLIP-style softmax(temperature * cosine)."""
    q = unit(query)
    cos = np.array([float(np.dot(q, unit(c))) for c in candidates], dtype=np.float64)
    logits = temperature * cos
    probs = np.exp(logits - logits.max())
    return cos, probs / probs.sum()
