"""The VADER comparison applies one class rule to both predictors."""

from __future__ import annotations

import numpy as np

from training.data import sentiment_corpora as corpus_mod
from training.data.sentiment_corpora import Item
from training.sentiment.evaluate import compare_with_vader
from training.sentiment.labels import to_class


def test_compare_with_vader_uses_one_rule_for_both():
    items = [
        Item(c, str(k), m, "t")
        for c in corpus_mod.CORPORA
        for k, m in enumerate([-2.0, -1.0, 1.0, 2.0, 3.0])
    ]
    truth = np.array([i.mean for i in items])
    perfect = compare_with_vader(items, truth, to_class(truth), -truth / 4)
    for row in perfect["corpora"].values():
        assert row["model"] == {"pearson_r": 1.0, "f1_weighted": 1.0}
        assert row["vader"]["pearson_r"] == -1.0 and row["vader"]["f1_weighted"] == 0.0
        assert row["target_met"] and row["n"] == 5
    assert "test" in perfect["split"]
