"""A model's heads: which to answer with, and how each kind of head reads one item's output row.

Pure numpy on manifest data. One reader per head type (``READERS``): adding a head type means a
result type in ``results.py`` and a reader here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from contract.manifest import Manifest, OutputSpec
from service.errors import InvalidInputError, ModelNotFoundError
from service.tasks.results import HeadResult, Label, LabelsResult, ValueResult


def top_labels(scores: np.ndarray, labels: Sequence[str], k: int) -> list[Label]:
    """The ``k`` highest-scoring labels of one row, best first."""
    flat = np.asarray(scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-flat, kind="stable")[: max(1, k)]
    return [Label(labels[i], int(i), float(flat[i])) for i in order]


def regression_value(row: np.ndarray) -> float:
    """A regression head's value for one item (``(1,)`` or scalar rows)."""
    return float(np.asarray(row, dtype=np.float64).reshape(-1)[0])


def _labels(head: OutputSpec, row: np.ndarray, top_k: int) -> HeadResult:
    return LabelsResult(head.task, head.type, top_labels(row, head.labels or [], top_k))


def _value(head: OutputSpec, row: np.ndarray, top_k: int) -> HeadResult:
    return ValueResult(head.task, head.type, regression_value(row))


# head type -> how one item's row of that output becomes a result (embeddings: see embeddings.py)
READERS: dict[str, Callable[[OutputSpec, np.ndarray, int], HeadResult]] = {
    "softmax": _labels,
    "sigmoid": _labels,
    "regression": _value,
}


def read_head(head: OutputSpec, row: np.ndarray, top_k: int) -> HeadResult:
    """One item's answer from ``head`` (``top_k`` labels for classifiers)."""
    return READERS[head.type](head, row, top_k)


def answer_heads(manifest: Manifest) -> list[OutputSpec]:
    """The heads that answer ``classify``: every output a reader exists for."""
    return [o for o in manifest.outputs if o.type in READERS]


def select_heads(manifest: Manifest, tasks: Sequence[str] | None) -> list[OutputSpec]:
    """Answering heads named (by output name or task) in ``tasks``; all of them when None."""
    heads = answer_heads(manifest)
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
