"""``embed``, ``similarity`` and ``rank``: images and texts in a shared embedding space.

An embedding space is the set of models whose embedding outputs declare the same ``space`` id.
An input is embedded by the space's model that takes exactly its modality (in ``semantic``,
images go to ``vision`` and texts to ``text``); inputs of one modality travel together through
that model's batcher, and the towers run at the same time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from service.errors import InvalidInputError, ModelNotFoundError
from service.inference.engine import Engine
from service.inference.served import ServedModel
from service.tasks.inputs import Item, check_count
from service.tasks.results import EmbedResult, Ranked, RankResult, SimilarityResult, VectorResult


async def embed(engine: Engine, space: str, items: Sequence[Item]) -> EmbedResult:
    """One vector per item (an image or a text), in the order of ``items``."""
    check_count(len(items), engine.settings.max_items)
    return EmbedResult(space, await vectors(engine, space, items))


async def similarity(
    engine: Engine, space: str, pairs: Sequence[tuple[Item, Item]]
) -> SimilarityResult:
    """The cosine of each pair (image-text, text-text or image-image)."""
    check_count(2 * len(pairs), engine.settings.max_items, "inputs (two per pair)")
    flat = await vectors(engine, space, [item for pair in pairs for item in pair])
    scores = [cosine(a.vector, b.vector) for a, b in zip(flat[::2], flat[1::2], strict=True)]
    return SimilarityResult(space, scores)


async def rank(
    engine: Engine,
    space: str,
    query: Item,
    candidates: Sequence[Item],
    *,
    temperature: float | None = None,
    top_k: int | None = None,
) -> RankResult:
    """Candidates best first by cosine with the query, with softmax(temperature * cosine).

    Each result names its candidate: its index, the client's ``id`` (or file name) and its text.
    """
    check_count(len(candidates), engine.settings.max_items, "candidates")
    temperature = temperature or engine.settings.rank_temperature
    query_vector, *others = await vectors(engine, space, [query, *candidates])
    cos, probs = rank_scores(query_vector.vector, [v.vector for v in others], temperature)
    order = sorted(range(len(cos)), key=lambda i: -cos[i])[: top_k or len(cos)]
    results = [
        Ranked(i, float(cos[i]), float(probs[i]), candidates[i].id, candidates[i].text)
        for i in order
    ]
    return RankResult(space, temperature, results)


def tower(engine: Engine, space: str, modality: str) -> tuple[ServedModel, str]:
    """The space's model that takes ``modality`` alone (first by name), and its output name."""
    members = engine.space(space)
    if not members:
        known = ", ".join(engine.spaces()) or "none"
        raise ModelNotFoundError(f"no embedding space {space!r}; known spaces: {known}")
    for model, output in members:
        manifest = model.manifest_or_none
        if manifest is not None and manifest.modalities == {modality}:
            return engine.resolve(model.name), output.name
    raise InvalidInputError(
        f"embedding space {space!r} has no model that takes {modality} alone", space=space
    )


async def vectors(engine: Engine, space: str, items: Sequence[Item]) -> list[VectorResult]:
    """Embed every item in ``space``: one batch per tower, results in the order of ``items``.

    The building block of every task on vectors (``search`` embeds its query with it).
    """
    groups: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(item.modality, []).append(index)
    towers = {modality: tower(engine, space, modality) for modality in groups}
    runs = [
        towers[m][0].run([items[i].image for i in idx], [items[i].text for i in idx])
        for m, idx in groups.items()
    ]
    results: list[VectorResult | None] = [None] * len(items)
    for (modality, indices), outputs in zip(
        groups.items(), await asyncio.gather(*runs), strict=True
    ):
        model, output = towers[modality]
        for index, out in zip(indices, outputs, strict=True):
            vector = np.asarray(out[output], dtype=np.float32)
            results[index] = VectorResult(model.name, output, modality, vector)
    return [r for r in results if r is not None]


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


def rank_scores(
    query: np.ndarray, candidates: Sequence[np.ndarray], temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine of the query with every candidate, and CLIP-style softmax(temperature * cosine)."""
    q = unit(query)
    cos = np.array([float(np.dot(q, unit(c))) for c in candidates], dtype=np.float64)
    logits = temperature * cos
    probs = np.exp(logits - logits.max())
    return cos, probs / probs.sum()
