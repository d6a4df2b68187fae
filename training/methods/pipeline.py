"""From examples to a trained, evaluated, exported model: the steps every data source shares.

``prepare`` builds the tokenizer (when the method reads text) and the batches; ``fit`` builds
the model of ``config.method`` and trains it; ``evaluate`` measures it on a split; ``export``
writes it into the model repository (two tower models for alignment).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from torch import nn

from contract.manifest import InputSpec, Manifest
from training.errors import FitInputError
from training.export.specs import embedding_output, softmax_outputs
from training.methods.alignment import AlignmentModel, ImageTower, TextTower
from training.methods.base import MultiOutputModel
from training.methods.build import (
    TEXT_METHODS,
    Pretrained,
    build_model,
    build_objective,
    normalisation,
)
from training.methods.config import FitConfig
from training.methods.data import Batches, Examples
from training.methods.encoders import MiniLMTextEncoder, PretrainedEfficientNet
from training.methods.evaluation import accuracies, retrieval_metrics
from training.methods.exporting import export_trained, image_input, text_inputs
from training.methods.feature_cache import PrefixCache, cached_prefix
from training.methods.tokenizer import build_tokenizer, encode
from training.methods.trainer import History, Runtime, train
from training.versions import next_free_version

log = logging.getLogger(__name__)

KIND = {"hard_sharing": "multitask", "soft_sharing": "multitask", "fusion": "fusion"}


@dataclass
class Prepared:
    """A config with its data turned into batches (and the tokenizer built from train texts)."""

    config: FitConfig
    tasks: list[str]
    classes: dict[str, list[str]]
    tokenizer: Tokenizer | None
    train: Batches
    evals: dict[str, Batches] = field(default_factory=dict)

    def batches(self, examples: Examples) -> Batches:
        tokens = None
        if self.tokenizer is not None:
            if examples.texts is None:
                raise ValueError(f"split {examples.split!r} has no texts")
            tokens = encode(self.tokenizer, examples.texts, self.config.text.max_length)
        return Batches(
            examples, self.config.train.batch_size, normalisation(self.config.image), tokens
        )


def _tasks(config: FitConfig, train: Examples) -> list[str]:
    if config.method == "alignment":
        return []
    tasks = list(config.tasks) or sorted(train.labels)
    missing = [t for t in tasks if t not in train.labels]
    if missing or not tasks:
        raise FitInputError(
            f"tasks {missing or tasks} have no labels; label fields: {sorted(train.labels)}"
        )
    single = [t for t in tasks if len(train.classes[t]) < 2]
    if single:  # a 1-way head learns nothing and scores a perfect, meaningless accuracy
        task = single[0]
        raise FitInputError(
            f"task {task!r} has a single class ({train.classes[task][0]!r}) in the data: "
            "a classifier needs at least two; add examples of another class, or leave the "
            "task out (config `tasks`)"
        )
    return tasks


def text_tokenizer(config: FitConfig, texts: list[str]) -> Tokenizer:
    """MiniLM's WordPiece tokenizer as the default ``text`` model ships it (no padding,
    truncation at ``max_length``), or a word-level one built from the training texts."""
    if config.text.kind == "minilm":
        from training.towers.minilm import serving_tokenizer_json

        return Tokenizer.from_str(serving_tokenizer_json(config.text.max_length))
    return build_tokenizer(texts)


def prepare(config: FitConfig, train: Examples, evals: dict[str, Examples]) -> Prepared:
    tasks = _tasks(config, train)
    tokenizer = None
    if config.method in TEXT_METHODS:
        if not train.texts:
            raise FitInputError(
                f"method {config.method!r} needs texts: give every line a `text` field"
            )
        tokenizer = text_tokenizer(config, train.texts)
    classes = {t: train.classes[t] for t in tasks}
    prepared = Prepared(config, tasks, classes, tokenizer, train=None)  # type: ignore[arg-type]
    prepared.train = prepared.batches(train)
    prepared.evals = {name: prepared.batches(ex) for name, ex in evals.items()}
    return prepared


def evaluate(model: MultiOutputModel, batches: Batches) -> dict[str, float]:
    """Accuracy per task for classifiers; recall@k both ways for alignment."""
    if isinstance(model, AlignmentModel):
        return retrieval_metrics(model, batches)
    return accuracies(model, batches)


@dataclass
class FitResult:
    model: MultiOutputModel
    history: History
    prepared: Prepared


def fit(
    prepared: Prepared,
    monitor: tuple[str, ...] = (),
    desc: str = "train",
    pretrained: Pretrained | None = None,
    runtime: Runtime | None = None,
    cache: PrefixCache | None = None,
) -> FitResult:
    """Build and train the model; ``monitor`` names eval splits measured after each epoch
    (for the curves only: nothing is selected on them).

    ``pretrained`` (optional): trained parts to start from (see ``build.Pretrained``);
    ``runtime`` (optional): processes, checkpoints, precision (see ``trainer.Runtime``).
    ``cache`` (optional): frozen-prefix outputs shared between runs (``feature_cache``).
    """
    config = prepared.config
    torch.manual_seed(config.train.seed)
    vocab = prepared.tokenizer.get_vocab_size() if prepared.tokenizer else None
    classes = {t: len(prepared.classes[t]) for t in prepared.tasks}
    model = build_model(config, classes, vocab, pretrained)
    objective = build_objective(config, prepared.tasks, prepared.train.examples)

    watched = {split: prepared.evals[split] for split in monitor}
    with cached_prefix(model, prepared.train, watched, cache) as (batches, evals):

        def monitor_fn(m: MultiOutputModel) -> dict[str, float]:
            return {f"{s}/{k}": v for s in monitor for k, v in evaluate(m, evals[s]).items()}

        history = train(
            model, objective, batches, config.train, monitor_fn if monitor else None, desc,
            runtime, tower_lr=config.resolved_tower_lr(),
        )  # fmt: skip
    return FitResult(model, history, prepared)


def trained_towers(model: nn.Module) -> list[dict[str, int | str]]:
    """What each pretrained tower of ``model`` trained (for the manifest's ``training``)."""
    towers = (PretrainedEfficientNet, MiniLMTextEncoder)
    return [m.describe() for m in model.modules() if isinstance(m, towers)]


def export_names(method: str, name: str) -> list[str]:
    """The repository names ``export`` writes: ``name``, or its two alignment towers."""
    if method == "alignment":
        return [f"{name}-image", f"{name}-text"]
    return [name]


def export(
    result: FitResult,
    *,
    models_dir: Path,
    name: str,
    metrics: dict[str, Any],
    training: dict[str, Any],
    description: str,
    split: str,
    version: int | None = None,
    replace: bool = False,
    space: str | None = None,
) -> list[Manifest]:
    """Write the model (or, for alignment, ``<name>-image`` and ``<name>-text``, which share
    one version number); ``version=None`` takes the next one free for every name written."""
    prepared, model = result.prepared, result.model
    config = prepared.config
    names = export_names(config.method, name)
    common: dict[str, Any] = {
        "models_dir": models_dir,
        "metrics": metrics,
        "history": result.history,
        "version": next_free_version(models_dir, names) if version is None else version,
        "replace": replace,
        "training": {
            "config": config.to_dict(),
            **training,
            "train_seconds": round(result.history.seconds, 1),
            "train_steps": result.history.steps,
        },
    }
    pretrained_towers = trained_towers(model)
    if pretrained_towers:
        common["training"].update(towers=pretrained_towers, tower_lr=config.resolved_tower_lr())
    batches = prepared.evals[split]
    image = image_input(config.image.image_size, normalisation(config.image))
    text = text_inputs(config.text.max_length) if prepared.tokenizer else []
    if not isinstance(model, AlignmentModel):
        outputs = softmax_outputs(prepared.classes)
        kind, tokenizer = KIND[config.method], prepared.tokenizer
        return [
            export_trained(
                model, batches, inputs=[image, *text], outputs=outputs, name=name, kind=kind,
                description=description, tokenizer=tokenizer, **common,
            )
        ]  # fmt: skip
    out = [embedding_output(model.dim, space or name)]
    towers: tuple[tuple[str, nn.Module, list[InputSpec], Tokenizer | None], ...] = (
        ("image", ImageTower(model), [image], None),
        ("text", TextTower(model), text, prepared.tokenizer),
    )
    return [
        export_trained(
            tower, batches, inputs=inputs, outputs=out, name=tower_name, kind="alignment",
            description=f"{description} ({modality} tower)", tokenizer=tokenizer, **common,
        )
        for (modality, tower, inputs, tokenizer), tower_name in zip(towers, names, strict=True)
    ]  # fmt: skip
