"""The word-level tokenizer: [PAD]=0, [UNK]=1, lowercase, punctuation split, per-batch padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from training.methods.tokenizer import PAD_ID, build_tokenizer, encode


def test_vocabulary_comes_from_the_texts_with_pad_and_unk_first() -> None:
    tok = build_tokenizer(["A red star.", "what shape is the red one?"])
    vocab = tok.get_vocab()
    assert vocab["[PAD]"] == PAD_ID == 0 and vocab["[UNK]"] == 1
    assert {"a", "red", "star", ".", "?", "shape"} <= set(vocab)
    assert "A" not in vocab  # lowercased


def test_encode_right_pads_to_the_longest_text_and_masks() -> None:
    tok = build_tokenizer(["a red star", "a star"])
    ids, mask = encode(tok, ["A RED star!", "a"], max_length=8)
    assert ids.shape == mask.shape == (2, 4)  # "a red star !" -> 4 tokens ("!" is unknown)
    assert mask.tolist() == [[1, 1, 1, 1], [1, 0, 0, 0]]
    assert ids[1, 1:].tolist() == [0, 0, 0]
    assert ids[0, 3] == 1  # "!" never seen: [UNK]


def test_truncates_at_max_length_and_keeps_a_token_for_empty_text() -> None:
    tok = build_tokenizer(["one two three four"])
    ids, mask = encode(tok, ["one two three four", ""], max_length=2)
    assert ids.shape == (2, 2) and mask[1].tolist() == [1, 0]


def test_saved_tokenizer_round_trips(tmp_path: Path) -> None:
    tok = build_tokenizer(["a big blue ring"])
    tok.save(str(tmp_path / "tokenizer.json"))
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert loaded.encode("A big BLUE ring").ids == tok.encode("a big blue ring").ids
    ids, _ = encode(loaded, ["a big blue ring"], 8)
    assert np.array_equal(ids[0], tok.encode("a big blue ring").ids)
