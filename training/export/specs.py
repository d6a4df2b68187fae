"""Manifest output entries that more than one build writes (softmax heads, embeddings)."""

from __future__ import annotations

from collections.abc import Mapping

from contract.manifest import OutputSpec


def softmax_outputs(classes: Mapping[str, list[str]]) -> list[OutputSpec]:
    """One softmax output per task, named after it, with its labels in class-index order."""
    return [
        OutputSpec(
            name=task, task=task, type="softmax", shape=["batch", len(labels)], labels=list(labels)
        )
        for task, labels in classes.items()
    ]


def embedding_output(
    dim: int, space: str, task: str = "alignment", description: str = ""
) -> OutputSpec:
    """The unit-length ``embedding`` output of a model in the named ``space``."""
    return OutputSpec(
        name="embedding",
        task=task,
        type="embedding",
        shape=["batch", dim],
        space=space,
        normalized=True,
        description=description,
    )
