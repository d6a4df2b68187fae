"""``python -m training fit``: train one of the four methods on a JSONL dataset and export it.

    python -m training fit --config fusion_concat --data my/data.jsonl --name my-fusion

``--config`` is a file or the name of a config in ``training/configs/`` (``hard_sharing``,
``soft_sharing``, ``fusion_concat``, ``fusion_attention``, ``alignment_infonce``, ...). The JSONL
format is described in ``training.methods.jsonl``. The model lands in
``<models-dir>/<name>/<version>/`` (alignment: ``<name>-image`` and ``<name>-text``, sharing the
embedding space ``<name>`` and one version), evaluated on the held-out fifth of the data. The
version is the next free one unless ``--version`` names one; an existing version is written over
only with ``--force``.

The same command runs data-parallel under ``torchrun --nproc_per_node N -m training fit ...``
(``training.distributed``). Each epoch ends with a checkpoint in ``--run-dir`` (default
``runs/<name>`` beside the models directory), which ``--resume`` continues from
(``training.checkpoints``); ``--amp`` trains in mixed precision (``training.precision``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np

from training import checkpoints, distributed
from training.distributed import Context
from training.errors import FitInputError
from training.methods import pipeline
from training.methods.alignment import AlignmentModel
from training.methods.base import MultiOutputModel
from training.methods.config import FitConfig, load_config
from training.methods.data import Batches, Examples
from training.methods.evaluation import classification_reports
from training.methods.jsonl import EVAL_SPLIT, load_jsonl
from training.methods.plots import CLASSIFICATION
from training.methods.trainer import Runtime
from training.versions import VersionTakenError, require_free

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fit`` command's options (the lead's ``training.cli`` dispatches here)."""
    parser.add_argument("--config", required=True, help="config file or name in training/configs")
    parser.add_argument("--data", type=Path, required=True, help="JSONL manifest of examples")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--name", default="", help="model name (default: the data file's stem)")
    parser.add_argument(
        "--version", type=int, default=None, help="version to write (default: the next free one)"
    )
    parser.add_argument(
        "--force", action="store_true", help="write over --version when it already exists"
    )
    parser.add_argument("--epochs", type=int, default=0, help="override the config's epochs")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="read the config and the data, print split sizes and label counts, train nothing",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an input error too"
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="where the per-epoch checkpoint goes (default: runs/<name> beside --models-dir)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the run directory's checkpoint"
    )
    parser.add_argument(
        "--amp", action="store_true", help="mixed precision (float16 on CUDA, bfloat16 on CPU)"
    )


def _model_name(args: argparse.Namespace) -> str:
    name: str = args.name or args.data.stem
    return name.lower().replace("_", "-")


def _with_overrides(config: FitConfig, args: argparse.Namespace) -> FitConfig:
    """The config with ``--epochs`` and ``--seed`` applied."""
    train_cfg = config.train
    if args.epochs:
        train_cfg = dataclasses.replace(train_cfg, epochs=args.epochs)
    if args.seed is not None:
        train_cfg = dataclasses.replace(train_cfg, seed=args.seed)
    return config.replace(train=train_cfg)


def summary(train: Examples, held: Examples, tasks: list[str]) -> str:
    """Split sizes and, per task, the label counts of each split (what ``--dry-run`` prints)."""
    lines = [f"examples: {len(train)} train, {len(held)} {held.split}"]
    for task in tasks:
        names = train.classes[task]
        for split in (train, held):
            counts = np.bincount(split.labels[task], minlength=len(names))
            shown = ", ".join(f"{n}={c}" for n, c in zip(names, counts, strict=True))
            lines.append(f"{task} ({split.split}): {shown}")
    return "\n".join(lines)


def _metrics(model: MultiOutputModel, held: Batches, train: Examples) -> dict[str, Any]:
    """Accuracies (or recall@k); for classifiers also macro F1, the majority-class baseline
    and, under ``classification``, per-class precision/recall and the confusion matrix."""
    metrics: dict[str, Any] = {
        "split": EVAL_SPLIT,
        "examples": len(held.examples),
        **pipeline.evaluate(model, held),
    }
    if isinstance(model, AlignmentModel):
        return metrics
    reports = classification_reports(model, held, train.labels)
    for task, report in reports.items():
        metrics[f"{task}_macro_f1"] = report["macro_f1"]
        metrics[f"{task}_majority_baseline_accuracy"] = report["majority_baseline_accuracy"]
    metrics[CLASSIFICATION] = reports
    return metrics


def _runtime(args: argparse.Namespace, config: FitConfig, ctx: Context) -> Runtime:
    """Checkpoints in ``--run-dir`` (default ``<models-dir>/../runs/<name>``), and the flags."""
    run_dir = args.run_dir or args.models_dir.parent / "runs" / _model_name(args)
    ident = checkpoints.identity(config.to_dict(), args.data, ctx.world_size)
    return Runtime(ctx, checkpoints.Checkpoints(run_dir, ident, ctx), args.resume, args.amp)


def run(args: argparse.Namespace) -> int:
    """Load, train, evaluate and export; returns the process exit code.

    Under ``torchrun`` every rank runs this (see ``training.distributed``); rank 0 alone
    prints, evaluates the final model and exports it."""
    with distributed.session() as ctx:
        return _run(args, ctx)


def _run(args: argparse.Namespace, ctx: Context) -> int:
    config = load_config(args.config)
    name = _model_name(args)
    if args.version is not None and not args.force and not args.dry_run:
        try:  # before training, not after: the export would refuse anyway
            require_free(args.models_dir, pipeline.export_names(config.method, name), args.version)
        except VersionTakenError as exc:
            raise SystemExit(str(exc)) from None
    config = _with_overrides(config, args)
    train, held = load_jsonl(args.data, config.image.image_size)
    log.info("%s: %d training and %d evaluation examples", args.data, len(train), len(held))
    try:
        prepared = pipeline.prepare(config, train, {EVAL_SPLIT: held})
    except FitInputError as exc:  # about the data as a whole: name the file
        raise FitInputError(exc.message, exc.path or args.data, exc.line) from exc
    if args.dry_run:
        if ctx.is_main:
            print(summary(train, held, prepared.tasks))  # the command's output, not a log line
        return 0
    runtime = _runtime(args, config, ctx)
    result = pipeline.fit(prepared, monitor=(EVAL_SPLIT,), desc=name, runtime=runtime)
    if ctx.is_main:
        how = {"processes": ctx.world_size, "amp": args.amp}
        _export(args, name, result, train, how)
    return 0


def _export(
    args: argparse.Namespace,
    name: str,
    result: pipeline.FitResult,
    train: Examples,
    how: dict[str, Any],
) -> None:
    config = result.prepared.config
    metrics = _metrics(result.model, result.prepared.evals[EVAL_SPLIT], train)
    manifests = pipeline.export(
        result,
        models_dir=args.models_dir,
        name=name,
        metrics=metrics,
        split=EVAL_SPLIT,
        training={"data": str(args.data), "seed": config.train.seed, **how},
        description=f"{config.method} trained on {args.data.name}",
        version=args.version,
        replace=args.force,
    )
    headline = {k: v for k, v in metrics.items() if k != CLASSIFICATION}
    for manifest in manifests:
        log.info("wrote %s v%d: %s", manifest.name, manifest.version, headline)
