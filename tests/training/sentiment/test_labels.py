"""The class rule and the two measures of the VADER paper."""

from __future__ import annotations

import numpy as np
import pytest

from training.sentiment.labels import pearson, to_class, weighted_f1


def test_class_rule_and_measures():
    assert to_class(np.array([-1.0, -0.05, 0.0, 0.049, 0.05, 3.0])).tolist() == [0, 0, 1, 1, 2, 2]
    truth = np.array([0, 1, 2, 2])
    assert weighted_f1(truth, truth) == 1.0
    assert weighted_f1(truth, np.array([2, 2, 0, 0])) == 0.0
    assert pearson(np.arange(5.0), 2 * np.arange(5.0) + 1) == pytest.approx(1.0)
