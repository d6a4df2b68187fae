"""Figures for a model's report: training curves, confusion matrices, PyTorch-vs-ONNX parity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.methods.data import Batches

_PARITY_ITEMS = 64
#: The metrics key holding per-head classification reports (``scores.classification_report``).
CLASSIFICATION = "classification"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: reports are written on servers and in CI
    import matplotlib.pyplot as plt

    return plt


def _is_headline_metric(key: str) -> bool:
    """Accuracies and recall@1 per split; recall@5/@10 would crowd the panel."""
    if key in ("epoch", "epoch_s", "total_s") or key.startswith(("loss/", "weight/")):
        return False
    return not key.endswith(("@5", "@10"))


def history_figure(history: Any, title: str) -> Any:
    """Losses (left) and evaluation metrics (right) per epoch."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    keys = sorted({k for e in history.epochs for k in e})
    epochs = history.series("epoch")
    for key in keys:
        if key.startswith("loss/"):
            left.plot(epochs, history.series(key), marker="o", label=key[5:])
        elif _is_headline_metric(key):
            right.plot(epochs, history.series(key), marker="o", label=key)
    left.set(title=f"{title}: training losses", xlabel="epoch", ylabel="loss")
    right.set(title="evaluation per epoch (not used for selection)", xlabel="epoch")
    for axis in (left, right):
        if axis.lines:
            axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    return fig


def _onnx_outputs(model_path: Path, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feed), strict=True))


def parity_figure(module: nn.Module, version_dir: Path, batches: Batches, names: list[str]) -> Any:
    """Scatter of ONNX Runtime against PyTorch outputs on up to 64 items of ``batches``."""
    batch = batches.batch(np.arange(min(_PARITY_ITEMS, len(batches.examples))))
    args = [batch[n] for n in names]
    module.eval()
    with torch.inference_mode():
        want = {k: v.numpy() for k, v in module(*args).items()}
    got = _onnx_outputs(
        version_dir / "model.onnx", {n: a.numpy() for n, a in zip(names, args, strict=True)}
    )
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(want), figsize=(3.6 * len(want), 3.4), squeeze=False)
    for axis, (key, torch_out) in zip(axes[0], want.items(), strict=True):
        onnx_out = got[key]
        diff = float(np.abs(onnx_out - torch_out).max())
        axis.scatter(torch_out.ravel(), onnx_out.ravel(), s=3, alpha=0.5)
        axis.set(title=f"{key}: max |diff| {diff:.1e}", xlabel="PyTorch", ylabel="ONNX Runtime")
        axis.grid(alpha=0.3)
    return fig


def confusion_figure(task: str, report: dict[str, Any]) -> Any:
    """The confusion matrix of one head (counts; rows true, columns predicted)."""
    matrix = np.array(report["confusion_matrix"]["rows_true_columns_predicted"])
    labels = report["confusion_matrix"]["labels"]
    plt = _pyplot()
    side = 2.0 + 0.45 * len(labels)
    fig, axis = plt.subplots(figsize=(side + 1.0, side))
    image = axis.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=axis, fraction=0.046)
    ticks = np.arange(len(labels))
    axis.set_xticks(ticks, labels, rotation=45, ha="right")
    axis.set_yticks(ticks, labels)
    for (row, col), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=8)
    title = f"{task}: accuracy {report['accuracy']:.3f}, macro F1 {report['macro_f1']:.3f}"
    axis.set(title=title, xlabel="predicted", ylabel="true")
    return fig
