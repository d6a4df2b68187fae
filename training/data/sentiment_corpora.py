"""The human-rated sentiment corpora of Hutto & Gilbert (ICWSM 2014), fetched and cached.

They ship only in the *source* distribution of ``vaderSentiment==3.3.2`` on PyPI, as
``additional_resources/hutto_ICWSM_2014.tar.gz``. ``load_corpora`` fetches that archive with
pip (the ordinary PyPI client, so proxies and mirrors configured for pip apply), verifies its
sha256, and caches the four ``*_GroundTruth.txt`` files under ``$XDG_CACHE_HOME`` (or
``./.cache``). Each line is ``id<TAB>mean rating (-4..4)<TAB>text``.

The split is fixed and independent of order or machine: an item is in the test split when
``int(sha1(f"{corpus}:{id}").hexdigest(), 16) % 5 == 0`` (about 20 %).
"""

from __future__ import annotations

import hashlib
import html
import io
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SDIST = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
# Corpus id -> ground-truth file inside the inner archive, with the paper's item counts.
CORPORA: dict[str, tuple[str, int]] = {
    "tweets": ("tweets_GroundTruth.txt", 4200),
    "movie": ("movieReviewSnippets_GroundTruth.txt", 10605),
    "amazon": ("amazonReviewSnippets_GroundTruth.txt", 3708),
    "nyt": ("nytEditorialSnippets_GroundTruth.txt", 5190),
}
TEST_SPLIT = "test: sha1(corpus:id) % 5 == 0"
VALIDATION_SPLIT = "validation: not test and sha1(val:corpus:id) % 10 == 0"


class CorpusError(RuntimeError):
    """The corpus could not be fetched or does not match its checksum."""


@dataclass(frozen=True)
class Item:
    """One rated sentence: ``mean`` is the mean of ~20 human ratings on -4..4."""

    corpus: str
    id: str
    mean: float
    text: str

    @property
    def is_test(self) -> bool:
        return is_test(self.corpus, self.id)

    @property
    def is_validation(self) -> bool:
        return not self.is_test and is_validation(self.corpus, self.id)


def is_test(corpus: str, item_id: str) -> bool:
    """The fixed split: True for the held-out ~20 %."""
    return int(hashlib.sha1(f"{corpus}:{item_id}".encode()).hexdigest(), 16) % 5 == 0


def is_validation(corpus: str, item_id: str) -> bool:
    """About 10 % of items, by another hash: the early-stopping slice of the training split."""
    return int(hashlib.sha1(f"val:{corpus}:{item_id}".encode()).hexdigest(), 16) % 10 == 0


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) / "mapping-serve" if base else Path(".cache")) / "sentiment"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify_sdist(path: Path, expected: str = SDIST_SHA256) -> bytes:
    """Read the sdist and check its sha256; raise ``CorpusError`` on a mismatch."""
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != expected:
        raise CorpusError(
            f"{path} has sha256 {actual}, expected {expected}; delete it and "
            "fetch again (a corrupted download or a different release)"
        )
    return data


def download_sdist(dest: Path) -> Path:
    """``pip download`` the vaderSentiment 3.3.2 source distribution into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-binary",
        ":all:",
        "--no-deps",
        "--disable-pip-version-check",
        "vaderSentiment==3.3.2",
        "-d",
        str(dest),
    ]
    log.info("fetching the Hutto & Gilbert corpora: %s", " ".join(cmd[2:]))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    path = dest / SDIST
    if done.returncode != 0 or not path.is_file():
        raise CorpusError(f"pip download failed (exit {done.returncode}): {done.stderr[-800:]}")
    return path


def extract_ground_truth(sdist: bytes, out_dir: Path) -> None:
    """Copy the four ``*_GroundTruth.txt`` files out of the nested archive into ``out_dir``."""
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as outer:
        try:
            member = outer.extractfile(INNER_ARCHIVE)
        except KeyError:
            member = None
        if member is None:
            raise CorpusError(f"{INNER_ARCHIVE} is missing from {SDIST}")
        inner_bytes = member.read()
    wanted = {filename for filename, _ in CORPORA.values()}
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
        for info in inner.getmembers():
            name = Path(info.name).name
            if info.isfile() and name in wanted:
                (out_dir / name).write_bytes(inner.extractfile(info).read())  # type: ignore[union-attr]
                wanted.discard(name)
    if wanted:
        raise CorpusError(f"files missing from the corpus archive: {sorted(wanted)}")


def ensure_corpus(cache_dir: Path | None = None) -> Path:
    """The directory holding the four ground-truth files, fetching them once if needed."""
    root = cache_dir or default_cache_dir()
    out_dir = root / "hutto_ICWSM_2014"
    if all((out_dir / f).is_file() for f, _ in CORPORA.values()):
        return out_dir
    sdist_path = root / SDIST
    if not sdist_path.is_file():
        with tempfile.TemporaryDirectory(prefix="vader-sdist-") as tmp:
            fetched = download_sdist(Path(tmp))
            verify_sdist(fetched)
            root.mkdir(parents=True, exist_ok=True)
            fetched.replace(sdist_path)
    extract_ground_truth(verify_sdist(sdist_path), out_dir)
    return out_dir


def decode_text(raw: bytes) -> str:
    """UTF-8 (what the files are), with a Windows-1252 fallback for any stray legacy byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def parse_ground_truth(corpus: str, raw: bytes) -> list[Item]:
    """Parse one ``*_GroundTruth.txt`` (CRLF lines, ``id<TAB>mean<TAB>text``).

    HTML entities (``&amp;`` in tweets) are unescaped: raters saw rendered text.
    """
    items = []
    for line in decode_text(raw).splitlines():
        if not line.strip():
            continue
        item_id, mean, text = line.split("\t", 2)
        items.append(Item(corpus, item_id.strip(), float(mean), html.unescape(text.strip())))
    return items


def load_corpora(cache_dir: Path | None = None) -> list[Item]:
    """All four corpora (23,703 items), fetched and verified on first use."""
    folder = ensure_corpus(cache_dir)
    items: list[Item] = []
    for corpus, (filename, expected) in CORPORA.items():
        parsed = parse_ground_truth(corpus, (folder / filename).read_bytes())
        if len(parsed) != expected:
            raise CorpusError(f"{filename}: {len(parsed)} items, expected {expected}")
        items.extend(parsed)
    return items
