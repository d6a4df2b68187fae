"""Retrieval and zero-shot evaluation of an aligned embedding space.

A hit is a retrieved item whose *content key* equals the query's (on the shapes world: the
same shape, colour and size), not only the query's own partner: captions are not unique.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def recall_at_k(
    queries: np.ndarray,
    candidates: np.ndarray,
    query_keys: Sequence[object],
    candidate_keys: Sequence[object],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[int, float]:
    """Fraction of queries with a matching-key candidate among their top k by cosine.

    ``queries`` (Q, D) and ``candidates`` (N, D) must be L2-normalised.
    """
    sims = queries @ candidates.T  # (Q, N)
    order = np.argsort(-sims, axis=1)[:, : max(ks)]  # (Q, kmax)
    ids: dict[object, int] = {}
    cand = np.asarray([ids.setdefault(k, len(ids)) for k in candidate_keys])
    want = np.asarray([ids.setdefault(k, len(ids)) for k in query_keys])
    hits = cand[order] == want[:, None]  # (Q, kmax)
    return {k: float(hits[:, :k].any(axis=1).mean()) for k in ks}


def bidirectional_recall(
    image_emb: np.ndarray,
    text_emb: np.ndarray,
    keys: Sequence[object],
    ks: Sequence[int] = (1, 5, 10),
) -> dict[str, float]:
    """recall@k image->text and text->image over paired items with content keys."""
    i2t = recall_at_k(image_emb, text_emb, keys, keys, ks)
    t2i = recall_at_k(text_emb, image_emb, keys, keys, ks)
    out = {f"image_to_text_recall@{k}": v for k, v in i2t.items()}
    out.update({f"text_to_image_recall@{k}": v for k, v in t2i.items()})
    return out


def zero_shot_accuracy(image_emb: np.ndarray, prompt_emb: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of classifying images by their most similar prompt (row = class)."""
    predictions = np.argmax(image_emb @ prompt_emb.T, axis=1)  # (N,)
    return float((predictions == labels).mean())
