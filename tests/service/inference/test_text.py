"""Tokenisation: truncation, lowercasing, companion inputs, and the text limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.manifest import TextInput
from service.errors import InvalidInputError
from service.inference.text import TextEncoder
from tests.service.tiny_models import write_tokenizer


def test_tokenizer_truncates_lowercases_and_fills_companions(tmp_path: Path) -> None:
    write_tokenizer(tmp_path / "tokenizer.json")
    spec = TextInput(name="input_ids", shape=["batch", "sequence"], max_length=4, lowercase=True)
    encoder = TextEncoder(spec, tmp_path, max_chars=40)
    short = encoder.encode("GOOD")
    assert short["text"].tolist()[0] == 2 and short["text"].tolist()[-1] == 3  # [CLS] .. [SEP]
    assert short["text"][1] != 1  # "GOOD" is known once lowercased, not [UNK]
    long = encoder.encode("good great happy love wonderful bad")
    assert len(long["text"]) == 4 and long["attention_mask"].tolist() == [1, 1, 1, 1]
    assert long["token_type_ids"].tolist() == [0, 0, 0, 0] and encoder.pad_id == 0
    with pytest.raises(InvalidInputError):
        encoder.encode("   ")
    with pytest.raises(InvalidInputError, match="limit is 40"):
        encoder.encode("good " * 9)
