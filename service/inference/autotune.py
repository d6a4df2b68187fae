"""Batch-size autotuning at warm-up: batch a model only where batches are cheaper per item.

Whether batching pays depends on the model and the hardware. On a GPU it nearly always does; on
a 2-core CPU the MiniLM text model runs about 2x more items per second at batch 4 than at
batch 1, while EfficientNet-Lite0 costs the same per image at any batch size (its depthwise
convolutions gain nothing from a larger batch), so batching it only makes every request in a
batch wait for the whole batch. A single global ``max_batch_size`` cannot be right for both,
so each model's limit is measured where it runs: the best of a few timed runs at batch 1, then up
a ladder of sizes (4, 16, ... and ``max_batch_size``), each kept only where it is clearly cheaper
per item than the size kept so far (the best run, not the median, is the one least disturbed by
other processes). On the development machine's AMX CPU the int8 text model costs 2.9 ms of
server CPU a sentence at batch 16 against 3.9 at batch 4, while the vision model gains nothing
past 4 (README "Performance").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Batch only when a full batch costs at most this fraction of batch-1's time per item. The
# margin keeps noise from flipping the choice: measured ratios are ~1.0 (vision) and ~0.5 (text).
WORTHWHILE = 0.8
# A larger batch than one already kept must cost at most this fraction of its time per item:
# every request in a batch waits for the whole run, so a bigger one has to pay for that.
# Measured at warm-up here (interleaved, 32 starts), batch 16 against 4: vision 0.85-0.94,
# text 0.67-0.78 (0.78-0.79 on an earlier day). At 0.85 two of 8 starts took 16 for vision: the
# same throughput under load as 4, a longer tail (README "Performance").
STEP_WORTHWHILE = 0.82
# Runs of one item per session when choosing the threads, taking turns: one thread takes
# `vision` only 1.06-1.21x its every-core time, and a second core busy for the whole series
# slows the every-core runs alone. Best of 5 still kept one thread for vision in 2 of 6 starts,
# best of 20 in 1 of 12 (README "Performance").
THREAD_REPEATS = 20


@dataclass(frozen=True)
class BatchProfile:
    """The limit chosen for one model and what it was chosen from (ms per item by batch size)."""

    max_batch_size: int
    per_item_ms: dict[int, float]


def _best_ms_each(
    runs: list[tuple[Callable[[list[Any]], Any], list[Any]]],
    repeats: int,
    min_seconds: float = 0.01,
) -> list[float]:
    """Best time per item of each ``(run, items)``, over at least ``repeats`` runs and
    ``min_seconds`` each (sub-millisecond models get enough runs for their best to be stable),
    at most 100 runs each.

    The series take turns, one run of each still timing per round, so a burst of other work
    (another process, the service's own threads) slows them all alike. Timed one series after
    the other, `vision` kept one intra-op thread in 3 of 12 starts of the service, and its batch
    limit came out 1, 4 or 16 (README "Performance").
    """
    best, spent, count = [float("inf")] * len(runs), [0.0] * len(runs), [0] * len(runs)

    def timing(index: int) -> bool:  # a series stops once it has its runs and its time
        return count[index] < 100 and (count[index] < repeats or spent[index] < min_seconds)

    while active := [i for i in range(len(runs)) if timing(i)]:
        for index in active:
            run, items = runs[index]
            started = time.perf_counter()
            run(items)
            took = time.perf_counter() - started
            best[index], spent[index] = min(best[index], took), spent[index] + took
            count[index] += 1
    return [1000.0 * b / len(items) for b, (_, items) in zip(best, runs, strict=True)]


def tune_batch_size(
    run: Callable[[list[Any]], Any], item: Any, max_batch_size: int, repeats: int = 5
) -> BatchProfile:
    """Time ``run`` on one item, then on each size of :func:`ladder`; keep the largest size
    that paid for itself against the one kept before it (1 when none did)."""
    if max_batch_size <= 1:
        return BatchProfile(max_batch_size, {})
    sizes = [1, *ladder(max_batch_size)]
    timed = _best_ms_each([(run, [item] * size) for size in sizes], repeats)
    per_item = dict(zip(sizes, timed, strict=True))
    limit = 1
    for size in sizes[1:]:
        bar = WORTHWHILE if limit == 1 else STEP_WORTHWHILE
        if per_item[size] <= bar * per_item[limit]:
            limit = size
    return BatchProfile(limit, {size: round(ms, 3) for size, ms in per_item.items()})


@dataclass(frozen=True)
class ThreadChoice:
    """The intra-op threads chosen for one model (0: ONNX Runtime's default, every core) and the
    best time of one item on each (ms by threads)."""

    intra_op_threads: int
    one_item_ms: dict[int, float]


def tune_threads(
    every_core: Callable[[list[Any]], Any], one_thread: Callable[[list[Any]], Any], item: Any
) -> ThreadChoice:
    """Time one item on a session with every core and on one with a single intra-op thread;
    keep the single thread when it is at least as fast.

    Where one thread runs even a lone item as fast, the others only add waking and waiting
    (the int8 text model here: 0.96 against 1.2 ms), and under load, when batches run side by
    side, they cost more (11% fewer sentences a second at c=32). Where they make a lone item
    faster (the vision model: 2.8 against 3.0 ms) they also served more at c=32 (7%).
    """
    every, one = _best_ms_each([(every_core, [item]), (one_thread, [item])], THREAD_REPEATS)
    return ThreadChoice(1 if one <= every else 0, {0: round(every, 3), 1: round(one, 3)})


def ladder(max_batch_size: int) -> list[int]:
    """The batch sizes timed above 1: powers of 4 below ``max_batch_size``, then itself
    (16 -> [4, 16]; 32 -> [4, 16, 32]; 8 -> [4, 8])."""
    sizes, size = [], 4
    while size < max_batch_size:
        sizes.append(size)
        size *= 4
    return [*sizes, max_batch_size]
