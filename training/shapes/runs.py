"""Train and evaluate the four methods on the shapes world (used by the defaults and experiments).

``Budget`` fixes how much data a run sees; ``train_on_shapes`` builds the examples of a task,
trains ``config`` on them and returns the ``FitResult``; the ``*_metrics`` functions measure
it on the held-out split (objects of (shape, colour) pairs never seen in training).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from training.methods import pipeline
from training.methods.alignment import AlignmentModel
from training.methods.build import Pretrained
from training.methods.config import FitConfig, load_config
from training.methods.data import Examples
from training.methods.encoders import ImageEncoder, PretrainedEfficientNet, SmallCNN
from training.methods.evaluation import embed_images, embed_texts, retrieval_metrics
from training.methods.retrieval import zero_shot_accuracy
from training.shapes.datasets import ShapesSpec, load
from training.shapes.text import class_prompt
from training.shapes.world import COLORS, HELDOUT_SPLIT, SEEN_SPLIT, SHAPES, TRAIN_SPLIT

log = logging.getLogger(__name__)

HELDOUT_DESCRIPTION = (
    "objects of the 10 (shape, colour) combinations held out of training "
    "(every shape and colour is seen, never these pairs)"
)


@dataclass(frozen=True)
class Budget:
    """How much data a run sees; ``epochs`` (when set) overrides the config's."""

    n_train: int
    n_eval: int = 2000
    n_seen: int = 500
    image_size: int = 64
    seed: int = 0
    epochs: int | None = None


QUICK = Budget(n_train=256, n_eval=64, n_seen=32, epochs=1)


def shapes_examples(task: str, budget: Budget) -> tuple[Examples, dict[str, Examples]]:
    """(train, {"heldout", "seen"}) examples of a shapes-world task."""

    def spec(split: str, n: int) -> ShapesSpec:
        return ShapesSpec(task, split, n, budget.image_size, budget.seed)

    train = load(spec(TRAIN_SPLIT, budget.n_train))
    evals = {
        HELDOUT_SPLIT: load(spec(HELDOUT_SPLIT, budget.n_eval)),
        SEEN_SPLIT: load(spec(SEEN_SPLIT, budget.n_seen)),
    }
    return train, evals


def with_budget(config: FitConfig, budget: Budget) -> FitConfig:
    train = dataclasses.replace(
        config.train, seed=budget.seed, epochs=budget.epochs or config.train.epochs
    )
    image = dataclasses.replace(config.image, image_size=budget.image_size)
    return config.replace(train=train, image=image)


def train_on_shapes(
    config: FitConfig, task: str, budget: Budget, desc: str = "train"
) -> pipeline.FitResult:
    """Train ``config`` on a shapes task; both eval splits are measured per epoch (curves).

    When ``config.image.init`` names a config, its trained trunk (``trained``, shared by
    every run of the process with the same budget) is copied in as the image encoder.
    """
    pretrained = Pretrained()
    if config.image.init:
        trunk = trained(config.image.init, "objects", budget).model
        pretrained.image_encoder = copy.deepcopy(image_encoder_of(trunk))
    train, evals = shapes_examples(task, budget)
    prepared = pipeline.prepare(with_budget(config, budget), train, evals)
    monitor = (SEEN_SPLIT, HELDOUT_SPLIT)
    return pipeline.fit(prepared, monitor=monitor, desc=desc, pretrained=pretrained)


@functools.lru_cache(maxsize=4)
def trained(config_name: str, task: str, budget: Budget) -> pipeline.FitResult:
    """A named config trained on a shapes task, memoised: the multi-task default and the
    models that start from its trunk share one training run."""
    return train_on_shapes(load_config(config_name), task, budget, desc=config_name)


def image_encoder_of(model: nn.Module) -> ImageEncoder:
    """The image trunk of a trained model (hard sharing ``encoder``, others ``image_encoder``)."""
    for attribute in ("encoder", "image_encoder"):
        encoder = getattr(model, attribute, None)
        if isinstance(encoder, SmallCNN | PretrainedEfficientNet):
            return encoder
    raise ValueError(f"{type(model).__name__} has no single image encoder to reuse")


def classifier_metrics(result: pipeline.FitResult) -> dict[str, Any]:
    """Held-out accuracies (flat, with the split named) plus the in-distribution ones."""
    evals = result.prepared.evals
    return {
        "split": HELDOUT_SPLIT,
        "split_description": HELDOUT_DESCRIPTION,
        "examples": len(evals[HELDOUT_SPLIT].examples),
        **pipeline.evaluate(result.model, evals[HELDOUT_SPLIT]),
        SEEN_SPLIT: pipeline.evaluate(result.model, evals[SEEN_SPLIT]),
    }


def zero_shot(result: pipeline.FitResult) -> float:
    """Top-1 of classifying held-out images by ranking the 50 "a {colour} {shape}" prompts."""
    model, prepared = result.model, result.prepared
    assert isinstance(model, AlignmentModel)
    combos = [(s, c) for s in range(len(SHAPES)) for c in range(len(COLORS))]
    prompts = Examples("prompts", None, [class_prompt(s, c) for s, c in combos])
    prompt_emb = embed_texts(model, prepared.batches(prompts))
    held = prepared.evals[HELDOUT_SPLIT]
    labels = np.array([combos.index((k[0], k[1])) for k in held.examples.keys or []])
    return zero_shot_accuracy(embed_images(model, held), prompt_emb, labels)


def alignment_metrics(result: pipeline.FitResult) -> dict[str, Any]:
    """Retrieval on the held-out split (hit = same shape, colour and size) and zero-shot."""
    evals = result.prepared.evals
    assert isinstance(result.model, AlignmentModel)
    return {
        "split": HELDOUT_SPLIT,
        "split_description": HELDOUT_DESCRIPTION,
        "examples": len(evals[HELDOUT_SPLIT].examples),
        "retrieval_hit": "same shape, colour and size",
        **retrieval_metrics(result.model, evals[HELDOUT_SPLIT]),
        "zero_shot_top1": zero_shot(result),
        "zero_shot_classes": len(SHAPES) * len(COLORS),
        SEEN_SPLIT: retrieval_metrics(result.model, evals[SEEN_SPLIT]),
    }
