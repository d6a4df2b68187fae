"""Frozen-prefix outputs computed once: what makes frozen and partly trained towers cheap on CPU.

There is no augmentation in ``fit``, so the frozen part of a pretrained image tower (stem and
first blocks, all in eval mode) maps each image to the same tensor every epoch. ``cached_prefix``
computes it once per split and feeds it to the encoders, which then run only their trained
blocks: the gradients into those blocks are exactly those of the full graph. Evaluation after
training, the export and its parity check run the full graph on pixels again.

Only image-only methods (hard and soft sharing) are fed this way; the others keep pixels.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from training.methods.base import IMAGE, MultiOutputModel
from training.methods.data import LABEL_PREFIX, Batches
from training.methods.encoders import PretrainedEfficientNet

log = logging.getLogger(__name__)

Key = tuple[int, int | None, float]  # examples, resample size, weights


class CachedBatches(Batches):
    """``Batches`` whose ``image`` is the precomputed frozen-prefix output of each example."""

    def __init__(self, source: Batches, prefix: torch.Tensor) -> None:
        super().__init__(source.examples, source.batch_size, source.norm, source.tokens)
        self.prefix = prefix  # (N, ...) in example order

    def batch(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        out = {IMAGE: self.prefix[torch.as_tensor(index)]}
        for task, values in self.examples.labels.items():
            out[LABEL_PREFIX + task] = torch.from_numpy(values[index])
        return out


class PrefixCache:
    """Prefix outputs by examples, weights and cut (the first trained block): several runs on
    the same data and pretrained tower (the elpv study) compute each cut once, and a cut is
    finished from a shallower one already held rather than from pixels. Holds the examples
    it keyed, so their ``id`` cannot be reused while the cache lives."""

    def __init__(self) -> None:
        self._store: dict[Key, tuple[object, dict[int, torch.Tensor]]] = {}

    def features(self, encoder: PretrainedEfficientNet, batches: Batches) -> torch.Tensor:
        key = (id(batches.examples), encoder.resample_to, _fingerprint(encoder))
        _examples, cuts = self._store.setdefault(key, (batches.examples, {}))
        cut = encoder.first_trained  # == the block count when the tower is all frozen
        pooled = encoder.frozen  # a frozen tower's cache is pooled, not a map at ``cut``
        slot = -1 if pooled else cut
        if slot not in cuts:
            shallower = [c for c in cuts if 0 < c <= cut]
            start = max(shallower, default=None)
            cuts[slot] = _compute(encoder, batches, None if start is None else cuts[start], start)
        return cuts[slot]


def _fingerprint(encoder: PretrainedEfficientNet) -> float:
    """A cheap stand-in for "the same frozen weights": the stem kernel's sum."""
    return float(encoder.tower._conv_stem.weight.detach().double().sum())


@torch.no_grad()  # not inference_mode: the trained blocks save these tensors for backward
def _compute(
    encoder: PretrainedEfficientNet,
    batches: Batches,
    start_maps: torch.Tensor | None,
    start: int | None,
    chunk: int = 64,
) -> torch.Tensor:
    """The encoder's frozen-prefix output for every example: from pixels, or from the maps
    entering block ``start``."""
    started, was_training = time.perf_counter(), encoder.training
    encoder.eval()
    if start_maps is None or start is None:
        chunks = [encoder.frozen_prefix(batch[IMAGE]).contiguous() for batch in batches.epoch()]
    else:
        chunks = [
            encoder.continue_prefix(start_maps[i : i + chunk], start).contiguous()
            for i in range(0, len(start_maps), chunk)
        ]
    encoder.train(was_training)
    prefix = torch.cat(chunks)
    log.info(
        "cached the frozen prefix of %d %s images: %s in %.1fs (from %s)",
        len(prefix), batches.examples.split, tuple(prefix.shape[1:]),
        time.perf_counter() - started, "pixels" if start is None else f"block {start}",
    )  # fmt: skip
    return prefix


def cacheable_encoders(model: MultiOutputModel) -> list[PretrainedEfficientNet]:
    """The model's towers when it reads only images through towers with the same frozen
    prefix (soft sharing's copies start equal and their prefix never trains); else []."""
    if model.input_names != (IMAGE,):
        return []
    encoders = [m for m in model.modules() if isinstance(m, PretrainedEfficientNet)]
    if not encoders or not all(e.has_frozen_prefix() for e in encoders):
        return []
    signatures = {(e.trainable_blocks, e.resample_to, _fingerprint(e)) for e in encoders}
    return encoders if len(signatures) == 1 else []


@contextmanager
def cached_prefix(
    model: MultiOutputModel,
    train: Batches,
    evals: dict[str, Batches],
    cache: PrefixCache | None = None,
) -> Iterator[tuple[Batches, dict[str, Batches]]]:
    """Within the block, ``(train, evals)`` feed prefix outputs to the model's towers, when it
    has cacheable ones; otherwise they are the batches given."""
    encoders = cacheable_encoders(model)
    if not encoders:
        yield train, evals
        return
    cache = cache or PrefixCache()
    first = encoders[0]
    fed: Batches = CachedBatches(train, cache.features(first, train))
    fed_evals: dict[str, Batches] = {
        n: CachedBatches(b, cache.features(first, b)) for n, b in evals.items()
    }
    for encoder in encoders:
        encoder.use_cached_prefix(True)
    try:
        yield fed, fed_evals
    finally:
        for encoder in encoders:
            encoder.use_cached_prefix(False)
