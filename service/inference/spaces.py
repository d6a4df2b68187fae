"""Embedding spaces: the models whose embedding outputs declare the same ``space`` id.

An input is embedded by the space's model that takes exactly its modality (e.g. in
``semantic``, images go to ``vision`` and texts to ``text``); inputs of one modality travel
together through that model's batcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from service.errors import InvalidInputError
from service.inference.engine import Engine

Modality = Literal["image", "text"]


@dataclass(frozen=True)
class MediaItem:
    """One thing to embed: encoded image bytes or a text."""

    modality: Modality
    image: bytes | None = None
    text: str | None = None


@dataclass(frozen=True)
class Embedded:
    """One embedding and the model/output that produced it."""

    model: str
    output: str
    vector: np.ndarray


def tower(engine: Engine, space: str, modality: Modality) -> tuple[str, str]:
    """(model, output) of the space's model that takes ``modality`` alone (first by name)."""
    engine.space_models(space)  # 404 for an unknown space
    for entry, output in engine.registry.space(space):
        if entry.manifest is not None and entry.manifest.modalities == {modality}:
            return entry.name, output.name
    raise InvalidInputError(
        f"embedding space {space!r} has no model that takes {modality} alone", space=space
    )


async def embed(engine: Engine, space: str, items: Sequence[MediaItem]) -> list[Embedded]:
    """Embed every item in ``space``; results in the order of ``items``."""
    groups: dict[Modality, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.modality, []).append(index)
    towers = {modality: tower(engine, space, modality) for modality in groups}
    runs = [
        engine.run(
            towers[m][0],
            [items[i].image for i in idx] if m == "image" else [None] * len(idx),
            [items[i].text for i in idx] if m == "text" else [None] * len(idx),
        )
        for m, idx in groups.items()
    ]
    results: list[Embedded | None] = [None] * len(items)
    for (modality, indices), outputs in zip(
        groups.items(), await asyncio.gather(*runs), strict=True
    ):
        model, output = towers[modality]
        for index, out in zip(indices, outputs, strict=True):
            results[index] = Embedded(model, output, np.asarray(out[output], dtype=np.float32))
    return [r for r in results if r is not None]
