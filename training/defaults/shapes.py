"""The shapes-world default models (``make models``); ``build`` trains and exports them all.

* ``shapes-multitask``      hard sharing: ``shape``, ``color``
* ``shapes-multitask-soft`` soft sharing: same heads
* ``shapes-fusion``         attribute questions, concatenation, LSTM
* ``shapes-vqa``            binding questions, cross-modal attention
* ``shapes-align-image``, ``shapes-align-text``: aligned towers (space ``shapes``)

Each model's config is a named JSON file in ``training/configs/`` (``shapes_*.json``); the
metrics in its manifest are measured on the held-out split. A quick build trains on a few
hundred examples for one epoch: the same code, for tests, not for serving.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from contract.manifest import Manifest
from training.defaults import BuildRequest
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


@dataclass(frozen=True)
class ShapesModel:
    """One default model: its name suffix, config, shapes task and manifest description."""

    key: str
    config: str
    task: str
    description: str
    space: str | None = None  # alignment models: the embedding space of their two towers


MODELS = (
    ShapesModel(
        "multitask",
        "shapes_multitask",
        "objects",
        "Hard parameter sharing: one CNN trunk, a 10-way shape head and a 5-way "
        "colour head, trained jointly (shapes world).",
    ),
    ShapesModel(
        "multitask-soft",
        "shapes_multitask_soft",
        "objects",
        "Soft parameter sharing: one CNN per task, an L2 penalty between their "
        "parameters; both trunks run at inference (shapes world).",
    ),
    ShapesModel(
        "fusion",
        "shapes_fusion",
        "attribute",
        "Attribute questions about one object (shape, colour or size): image "
        "features of the frozen shapes-multitask trunk and an Embedding+LSTM "
        "question vector, concatenated, Dense(256, relu), softmax.",
    ),
    ShapesModel(
        "vqa",
        "shapes_vqa",
        "binding",
        "Binding questions over two or three objects ('what shape is the red "
        "one?'): the question vector attends over the image's 8x8 feature map "
        "(cross-modal attention; trunk initialised from shapes-multitask), then "
        "the answer head.",
    ),
    ShapesModel(
        "align",
        "shapes_align",
        "objects",
        "Image and caption towers aligned in the `shapes` space "
        "(symmetric InfoNCE, learnable temperature)",
        space=SPACE,
    ),
)


def build(request: BuildRequest) -> list[Manifest]:
    """Train (or reuse the memoised run of) one shapes model and export it with held-out
    metrics; ``request.model.name`` is ``shapes-<key>`` of one of ``MODELS``."""
    model = next(m for m in MODELS if f"shapes-{m.key}" == request.model.name)
    budget = QUICK if request.quick else FULL
    result = trained(model.config, model.task, budget)
    metrics = alignment_metrics(result) if model.space else classifier_metrics(result)
    log.info("shapes-%s held-out metrics: %s", model.key, metrics)
    data = "shapes world captions" if model.space else f"shapes world, task {model.task!r}"
    return pipeline.export(
        result,
        models_dir=request.models_dir,
        name=f"shapes-{model.key}",
        version=request.version,
        replace=request.replace,
        space=model.space,
        metrics=metrics,
        split=HELDOUT_SPLIT,
        description=model.description,
        training={
            "data": f"{data}, {budget.n_train} training scenes (synthetic)",
            "seed": budget.seed,
            "quick": request.quick,
        },
    )
