"""In-memory examples and the batches the training loop feeds to a model.

``Examples`` is what every data source produces (the shapes world, a user's JSONL file):
uint8 images, texts, integer labels per task with their class names, and optional content
keys for retrieval. ``Batches`` turns them into dicts of tensors keyed by model input names
(``image``, ``input_ids``, ``attention_mask``) and ``label:<task>``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from training.methods.base import ATTENTION_MASK, IMAGE, INPUT_IDS

LABEL_PREFIX = "label:"


@dataclass
class Examples:
    """One split of a dataset, held in memory."""

    split: str
    images: np.ndarray | None  # (N, H, W, 3) uint8
    texts: list[str] | None
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # task -> (N,) int64
    classes: dict[str, list[str]] = field(default_factory=dict)  # task -> class names
    keys: Sequence[tuple[Any, ...]] | None = None  # content keys: equal keys are retrieval hits

    def __len__(self) -> int:
        if self.images is not None:
            return len(self.images)
        return len(self.texts or [])

    def subset(self, index: np.ndarray) -> Examples:
        return Examples(
            split=self.split,
            images=None if self.images is None else self.images[index],
            texts=None if self.texts is None else [self.texts[i] for i in index],
            labels={t: v[index] for t, v in self.labels.items()},
            classes=self.classes,
            keys=None if self.keys is None else [self.keys[i] for i in index],
        )


@dataclass(frozen=True)
class Normalisation:
    """pixel = (value_0_255 - mean) / std, the same for every channel (as in the manifest)."""

    mean: float = 127.5
    std: float = 127.5

    def apply(self, images: np.ndarray) -> torch.Tensor:
        """uint8 (B, H, W, 3) -> float32 (B, 3, H, W), channels-last in memory (faster convs)."""
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float()  # (B, 3, H, W)
        return ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)


class Batches:
    """Iterate over ``Examples`` in batches of tensors, shuffled from a seeded generator."""

    def __init__(
        self,
        examples: Examples,
        batch_size: int,
        norm: Normalisation,
        tokens: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.examples, self.batch_size, self.norm, self.tokens = examples, batch_size, norm, tokens

    def __len__(self) -> int:
        return -(-len(self.examples) // self.batch_size)

    def batch(self, index: np.ndarray) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        if self.examples.images is not None:
            out[IMAGE] = self.norm.apply(self.examples.images[index])
        if self.tokens is not None:
            ids, mask = self.tokens[0][index], self.tokens[1][index]
            width = max(int(mask.sum(1).max()), 1)  # pad per batch, like the service
            out[INPUT_IDS] = torch.from_numpy(np.ascontiguousarray(ids[:, :width]))
            out[ATTENTION_MASK] = torch.from_numpy(np.ascontiguousarray(mask[:, :width]))
        for task, values in self.examples.labels.items():
            out[LABEL_PREFIX + task] = torch.from_numpy(values[index])
        return out

    def epoch(
        self, rng: np.random.Generator | None = None, order: np.ndarray | None = None
    ) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffled full batches when ``rng`` is given (training), or full batches in the
        given ``order`` (one rank's share of a distributed epoch); else all, in order."""
        training = rng is not None or order is not None
        if order is None:
            size = len(self.examples)
            order = rng.permutation(size) if rng is not None else np.arange(size)
        n = len(order)
        # In training a short last batch is dropped unless it is the only one: in-batch
        # negatives and BatchNorm statistics both need a real batch.
        stop = n if not training or n <= self.batch_size else n - n % self.batch_size
        for start in range(0, stop, self.batch_size):
            yield self.batch(order[start : start + self.batch_size])

    def steps_per_epoch(self) -> int:
        n = len(self.examples)
        return max(n // self.batch_size, 1)
