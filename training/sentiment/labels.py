"""Sentiment classes and the two measures of the VADER paper (Pearson r, 3-class F1).

Class rule, for the human mean *and* for every model's score: ``score >= +0.05`` positive,
``score <= -0.05`` negative, otherwise neutral. For VADER the score is its compound value
(-1..1), the rule its authors ship. For the human ground truth we apply the same rule to the
mean rating (-4..4): Hutto & Gilbert state one rule for all methods, and with it VADER's
weighted F1 reproduces the paper's Table 4 within 0.02 on every corpus (a wider neutral band,
e.g. |mean| < 0.5, moves tweets from 0.96 to 0.79). Neutral items are rare under it (1-5 %).

F1 is the support-weighted mean of the per-class F1 (the paper's "overall" F1), computed by
one function for every predictor.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("negative", "neutral", "positive")
THRESHOLD = 0.05
VALENCE_RANGE = (-4.0, 4.0)


def to_class(scores: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """Scores -> class index (0 negative, 1 neutral, 2 positive) by the +-threshold rule."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(scores >= threshold, 2, np.where(scores <= -threshold, 0, 1))


def weighted_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Support-weighted 3-class F1 (classes absent from both sides count 0 weight)."""
    from sklearn.metrics import f1_score

    return float(f1_score(truth, predicted, labels=[0, 1, 2], average="weighted", zero_division=0))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation coefficient of two 1-d arrays."""
    return float(np.corrcoef(np.asarray(a, np.float64), np.asarray(b, np.float64))[0, 1])
