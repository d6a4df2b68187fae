"""Classification scores beyond accuracy: confusion matrix, per-class precision and recall,
macro F1 and the majority-class baseline (what a head that always says the most frequent
training class would score). Pure numpy, so they are tested without a model.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    flat = np.bincount(truth * classes + predicted, minlength=classes * classes)
    return flat.reshape(classes, classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, 0 where the denominator is 0 (sklearn's choice)."""
    out = np.zeros(len(numerator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def classification_report(
    truth: np.ndarray, predicted: np.ndarray, names: list[str], train_truth: np.ndarray
) -> dict[str, Any]:
    """Scores of one head on a split; the baseline's class is the majority of ``train_truth``."""
    matrix = confusion_matrix(truth, predicted, len(names))
    hits = np.diag(matrix).astype(np.float64)
    precision = _ratio(hits, matrix.sum(0).astype(np.float64))
    recall = _ratio(hits, matrix.sum(1).astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    majority = int(np.bincount(train_truth, minlength=len(names)).argmax())
    return {
        "accuracy": float(hits.sum() / max(len(truth), 1)),
        "macro_f1": float(f1.mean()),
        "majority_class": names[majority],
        "majority_baseline_accuracy": float((truth == majority).mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(matrix[i].sum()),
            }
            for i, name in enumerate(names)
        },
        "confusion_matrix": {"labels": list(names), "rows_true_columns_predicted": matrix.tolist()},
    }
