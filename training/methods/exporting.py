"""The methods' models into the model repository, through the one exporter, with their report.

Input specs follow the manifest conventions (``contract/manifest.py``): images are float32 NCHW
normalised as ``(value - mean) / std``; text is right-padded int64 ids with an attention mask.
The report hook writes ``report/metrics.json``, the training curves, a confusion matrix per
classification head (``confusion_<task>.png``, when the metrics hold them) and a parity figure
(PyTorch against ONNX Runtime on a held-out batch) into the staged version directory.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from contract.layout import TOKENIZER_FILE
from contract.manifest import (
    ImageInput,
    InputSpec,
    Manifest,
    OutputSpec,
    TextInput,
    TokenCompanionInput,
)
from training.export import Report, export_model
from training.export.provenance import code_revision
from training.export.report import save_figure, write_metrics
from training.methods.base import ATTENTION_MASK, IMAGE, INPUT_IDS
from training.methods.data import Batches, Normalisation
from training.methods.plots import (
    CLASSIFICATION,
    confusion_figure,
    history_figure,
    parity_figure,
)
from training.methods.trainer import History

log = logging.getLogger(__name__)


def image_input(image_size: int, norm: Normalisation) -> ImageInput:
    return ImageInput(
        name=IMAGE,
        shape=["batch", 3, image_size, image_size],
        size=(image_size, image_size),
        resize=None,
        crop="none",
        interpolation="bilinear",
        mean=(norm.mean,) * 3,
        std=(norm.std,) * 3,
    )


def text_inputs(max_length: int) -> list[InputSpec]:
    return [
        TextInput(
            name=INPUT_IDS,
            shape=["batch", "sequence"],
            tokenizer=TOKENIZER_FILE,
            max_length=max_length,
            lowercase=True,
        ),
        TokenCompanionInput(
            role="attention_mask", name=ATTENTION_MASK, shape=["batch", "sequence"]
        ),
    ]


def example_batches(
    batches: Batches, names: list[str]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Two export check batches: 2 items, and 3 items padded 3 tokens longer."""
    first = batches.batch(np.arange(2))
    second = batches.batch(np.arange(2, 5) % len(batches.examples))
    if INPUT_IDS in second:
        pad = torch.zeros((second[INPUT_IDS].shape[0], 3), dtype=torch.int64)
        second[INPUT_IDS] = torch.cat([second[INPUT_IDS], pad], 1)
        second[ATTENTION_MASK] = torch.cat([second[ATTENTION_MASK], pad], 1)
    return {n: first[n] for n in names}, {n: second[n] for n in names}


def _report(
    module: nn.Module, batches: Batches, names: list[str], history: History | None
) -> Report:
    """Metrics and parity as JSON, the training curves, a confusion matrix per head (when the
    metrics hold classification reports), the parity scatter."""

    def write(staged: Path, manifest: Manifest) -> None:
        write_metrics(staged, {"metrics": manifest.metrics, "parity": manifest.parity})
        if history is not None and history.epochs:
            save_figure(history_figure(history, manifest.name), staged, "training_curves.png")
        for task, scores in manifest.metrics.get(CLASSIFICATION, {}).items():
            save_figure(confusion_figure(task, scores), staged, f"confusion_{task}.png")
        save_figure(parity_figure(module, staged, batches, names), staged, "parity.png")

    return write


def export_trained(
    module: nn.Module,
    batches: Batches,
    *,
    inputs: list[InputSpec],
    outputs: list[OutputSpec],
    models_dir: Path,
    name: str,
    kind: str,
    description: str,
    metrics: dict[str, Any],
    training: dict[str, Any],
    history: History | None,
    version: int,
    replace: bool = False,
    tokenizer: Tokenizer | None = None,
) -> Manifest:
    """Export ``module`` (inputs positional in ``inputs`` order) with its report."""
    names = [spec.name for spec in inputs]
    example, check = example_batches(batches, names)
    training = {**training, "code_revision": code_revision()}
    with tempfile.TemporaryDirectory() as tmp:
        extra: dict[str, Path] = {}
        if tokenizer is not None:
            extra[TOKENIZER_FILE] = Path(tmp) / TOKENIZER_FILE
            tokenizer.save(str(extra[TOKENIZER_FILE]))
        with warnings.catch_warnings():
            # The exporter warns that LSTMs may not generalise across batch sizes
            # (onnx/onnx#3182); export_model checks two batch sizes and sequence lengths.
            warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch")
            return export_model(
                module,
                example,
                models_dir=models_dir,
                name=name,
                version=version,
                replace=replace,
                kind=kind,
                description=description,
                inputs=inputs,
                outputs=outputs,
                metrics=metrics,
                training=training,
                extra_files=extra,
                check_example=check,
                report=_report(module, batches, names, history),
            )
