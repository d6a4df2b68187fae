"""Retrieval metrics count content matches, both directions, and zero-shot top-1."""

from __future__ import annotations

import numpy as np
import pytest

from training.methods.retrieval import bidirectional_recall, recall_at_k, zero_shot_accuracy


def test_recall_counts_any_item_with_the_same_content_key() -> None:
    queries = np.array([[1.0, 0.0], [0.0, 1.0]])
    candidates = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    # Query 0's best match is candidate 1 (key "a"): a hit at 1.
    # Query 1's best is candidate 0 (key "c"); key "b" comes second: a hit from k = 2.
    got = recall_at_k(queries, candidates, ["a", "b"], ["c", "a", "b"], ks=(1, 2, 3))
    assert got == {1: 0.5, 2: 1.0, 3: 1.0}


def test_bidirectional_recall_is_perfect_for_identical_spaces() -> None:
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(20, 8))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    metrics = bidirectional_recall(emb, emb, list(range(20)))
    assert metrics["image_to_text_recall@1"] == 1.0 == metrics["text_to_image_recall@1"]
    assert set(metrics) >= {"image_to_text_recall@5", "text_to_image_recall@10"}


def test_zero_shot_accuracy() -> None:
    prompts = np.eye(3)
    images = np.array([[0.9, 0.1, 0.0], [0.0, 0.2, 0.9], [0.8, 0.0, 0.1]])
    assert zero_shot_accuracy(images, prompts, np.array([0, 2, 1])) == pytest.approx(2 / 3)
