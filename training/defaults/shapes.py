"""The shapes-world default models (``make models``), one builder per model family.

Every builder is ``build_*(models_dir, *, quick) -> list[Manifest]``; ``build`` runs them all:

* ``build_multitask``  -> ``shapes-multitask``       (hard sharing: ``shape``, ``color``)
* ``build_multitask_soft`` -> ``shapes-multitask-soft`` (soft sharing: same heads)
* ``build_fusion``     -> ``shapes-fusion``          (attribute questions, concatenation, LSTM)
* ``build_vqa``        -> ``shapes-vqa``             (binding questions, cross-modal attention)
* ``build_alignment``  -> ``shapes-align-image``, ``shapes-align-text`` (space ``shapes``)

Each model's config is a named JSON file in ``training/configs/`` (``shapes_*.json``); the
metrics in its manifest are measured on the held-out split. ``quick=True`` trains on a few
hundred examples for one epoch: the same code, for tests, not for serving.
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.manifest import Manifest
from training.methods import pipeline
from training.shapes.runs import (
    QUICK,
    Budget,
    alignment_metrics,
    classifier_metrics,
    trained,
)
from training.shapes.world import HELDOUT_SPLIT

log = logging.getLogger(__name__)

SPACE = "shapes"
# One budget for every model, so the fusion models reuse the multi-task run's trunk (memoised
# in training.shapes.runs.trained). Sized so that all shapes models together train in under
# ten minutes on 2 free CPU cores.
FULL = Budget(n_train=16000)


def _budget(quick: bool) -> Budget:
    return QUICK if quick else FULL


def _train_and_export(
    models_dir: Path, *, quick: bool, key: str, config: str, task: str, description: str
) -> list[Manifest]:
    budget = _budget(quick)
    result = trained(config, task, budget)
    metrics = classifier_metrics(result)
    log.info("shapes-%s held-out metrics: %s", key, metrics)
    return pipeline.export(
        result,
        models_dir=models_dir,
        name=f"shapes-{key}",
        metrics=metrics,
        split=HELDOUT_SPLIT,
        description=description,
        training={
            "data": f"shapes world, task {task!r}, {budget.n_train} training scenes (synthetic)",
            "seed": budget.seed,
            "quick": quick,
        },
    )


def build_multitask(models_dir: Path, *, quick: bool) -> list[Manifest]:
    return _train_and_export(
        models_dir,
        quick=quick,
        key="multitask",
        config="shapes_multitask",
        task="objects",
        description="Hard parameter sharing: one CNN trunk, a 10-way shape head and a 5-way "
        "colour head, trained jointly (shapes world).",
    )


def build_multitask_soft(models_dir: Path, *, quick: bool) -> list[Manifest]:
    return _train_and_export(
        models_dir,
        quick=quick,
        key="multitask-soft",
        config="shapes_multitask_soft",
        task="objects",
        description="Soft parameter sharing: one CNN per task, an L2 penalty between their "
        "parameters; both trunks run at inference (shapes world).",
    )


def build_fusion(models_dir: Path, *, quick: bool) -> list[Manifest]:
    return _train_and_export(
        models_dir,
        quick=quick,
        key="fusion",
        config="shapes_fusion",
        task="attribute",
        description="Attribute questions about one object (shape, colour or size): image "
        "features of the frozen shapes-multitask trunk and an Embedding+LSTM "
        "question vector, concatenated, Dense(256, relu), softmax.",
    )


def build_vqa(models_dir: Path, *, quick: bool) -> list[Manifest]:
    return _train_and_export(
        models_dir,
        quick=quick,
        key="vqa",
        config="shapes_vqa",
        task="binding",
        description="Binding questions over two or three objects ('what shape is the red "
        "one?'): the question vector attends over the image's 8x8 feature map "
        "(cross-modal attention; trunk initialised from shapes-multitask), then "
        "the answer head.",
    )


def build_alignment(models_dir: Path, *, quick: bool) -> list[Manifest]:
    budget = _budget(quick)
    result = trained("shapes_align", "objects", budget)
    metrics = alignment_metrics(result)
    log.info("shapes-align held-out metrics: %s", metrics)
    return pipeline.export(
        result,
        models_dir=models_dir,
        name="shapes-align",
        space=SPACE,
        metrics=metrics,
        split=HELDOUT_SPLIT,
        description="Image and caption towers aligned in the `shapes` space "
        "(symmetric InfoNCE, learnable temperature)",
        training={
            "data": f"shapes world captions, {budget.n_train} training scenes (synthetic)",
            "seed": budget.seed,
            "quick": quick,
        },
    )


BUILDERS = (build_multitask, build_multitask_soft, build_fusion, build_vqa, build_alignment)


def build(models_dir: Path, *, quick: bool) -> list[Manifest]:
    """Build every shapes-world default model into ``models_dir``."""
    manifests: list[Manifest] = []
    for builder in BUILDERS:
        manifests += builder(models_dir, quick=quick)
    return manifests
