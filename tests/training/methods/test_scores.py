"""Confusion matrix, per-class precision/recall, macro F1 and the majority baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.methods.build import balanced_weights
from training.methods.scores import classification_report, confusion_matrix


def test_confusion_matrix_rows_are_truth_columns_predictions() -> None:
    truth = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    assert confusion_matrix(truth, predicted, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_report_scores_and_the_majority_baseline_by_hand() -> None:
    truth = np.array([0, 0, 0, 0, 1, 1])  # eval: 4 "a", 2 "b"
    predicted = np.array([0, 0, 0, 1, 1, 0])
    report = classification_report(truth, predicted, ["a", "b"], np.array([1, 1, 1, 0]))
    assert report["accuracy"] == pytest.approx(4 / 6)
    a, b = report["per_class"]["a"], report["per_class"]["b"]
    assert (a["precision"], a["recall"], a["support"]) == (pytest.approx(3 / 4), 3 / 4, 4)
    assert (b["precision"], b["recall"], b["support"]) == (pytest.approx(1 / 2), 1 / 2, 2)
    assert report["macro_f1"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    # The baseline's class comes from the training labels ("b"), scored on the eval labels.
    assert report["majority_class"] == "b"
    assert report["majority_baseline_accuracy"] == pytest.approx(2 / 6)
    assert report["confusion_matrix"]["labels"] == ["a", "b"]


def test_a_head_that_never_predicts_a_class_scores_zero_for_it_not_nan() -> None:
    report = classification_report(
        np.array([0, 1, 1]), np.array([1, 1, 1]), ["a", "b"], np.array([1])
    )
    assert report["per_class"]["a"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert report["macro_f1"] == pytest.approx(0.4)  # (0 + 0.8) / 2


def test_balanced_weights_are_inverse_frequency_and_equalise_the_classes() -> None:
    labels = np.array([0] * 6 + [1] * 2 + [2] * 0)
    weights = balanced_weights(labels, 3)
    assert weights.tolist() == pytest.approx([8 / (3 * 6), 8 / (3 * 2), 0.0])
    # Each present class then carries the same total weight in the loss.
    per_class_mass = weights[torch.from_numpy(labels)].reshape(-1)
    assert float(per_class_mass[:6].sum()) == pytest.approx(float(per_class_mass[6:].sum()))
    logits = torch.zeros(len(labels), 3)
    weighted = F.cross_entropy(logits, torch.from_numpy(labels), weight=weights)
    assert float(weighted) == pytest.approx(float(np.log(3)))
