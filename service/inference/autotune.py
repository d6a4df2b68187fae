"""Batch-size autotuning at warm-up: batch a model only where batches are cheaper per item.

Whether batching pays depends on the model and the hardware. On a GPU it nearly always does; on
a 2-core CPU the MiniLM text model runs about 2x more items per second at batch 4 than at
batch 1, while EfficientNet-Lite0 costs the same per image at any batch size (its depthwise
convolutions gain nothing from a larger batch), so batching it only makes every request in a
batch wait for the whole batch. A single global ``max_batch_size`` cannot be right for both,
so each model's limit is measured where it runs: the best of a few timed runs at batch 1 and at
``max_batch_size`` (the best, not the median, is the run least disturbed by other processes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Batch only when a full batch costs at most this fraction of batch-1's time per item. The
# margin keeps noise from flipping the choice: measured ratios are ~1.0 (vision) and ~0.5 (text).
WORTHWHILE = 0.8


@dataclass(frozen=True)
class BatchProfile:
    """The limit chosen for one model and what it was chosen from (ms per item by batch size)."""

    max_batch_size: int
    per_item_ms: dict[int, float]


def _best_ms(
    run: Callable[[list[Any]], Any], items: list[Any], repeats: int, min_seconds: float = 0.01
) -> float:
    """Best time per item over at least ``repeats`` runs and ``min_seconds`` (sub-millisecond
    models get enough runs for their best to be stable), at most 100 runs."""
    best, spent, runs = float("inf"), 0.0, 0
    while runs < 100 and (runs < repeats or spent < min_seconds):
        started = time.perf_counter()
        run(items)
        took = time.perf_counter() - started
        best, spent, runs = min(best, took), spent + took, runs + 1
    return 1000.0 * best / len(items)


def tune_batch_size(
    run: Callable[[list[Any]], Any], item: Any, max_batch_size: int, repeats: int = 3
) -> BatchProfile:
    """Time ``run`` on one item and on ``max_batch_size`` copies; keep batching if it pays."""
    if max_batch_size <= 1:
        return BatchProfile(max_batch_size, {})
    single = _best_ms(run, [item], repeats)
    batched = _best_ms(run, [item] * max_batch_size, repeats)
    limit = max_batch_size if batched <= WORTHWHILE * single else 1
    return BatchProfile(limit, {1: round(single, 3), max_batch_size: round(batched, 3)})
