"""The word-level tokenizer of the LSTM text encoder, built from the training texts.

A ``tokenizers`` WordLevel model (lowercased, split on whitespace and punctuation), with
``[PAD]`` = 0 and ``[UNK]`` = 1. It is saved as ``tokenizer.json`` beside the model; the
service loads that file, pads each batch on the right with id 0 and builds the attention mask,
which is exactly what ``encode`` does here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID = 0


def _bare(vocab: dict[str, int]) -> Tokenizer:
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    return tokenizer


def build_tokenizer(texts: Iterable[str], min_count: int = 1) -> Tokenizer:
    """A word-level tokenizer whose vocabulary is every word seen at least ``min_count`` times."""
    splitter = _bare({PAD: 0, UNK: 1})
    counts: Counter[str] = Counter()
    for text in texts:
        normalised = splitter.normalizer.normalize_str(text)
        pieces = splitter.pre_tokenizer.pre_tokenize_str(normalised)
        counts.update(word for word, _ in pieces)
    words = sorted(w for w, c in counts.items() if c >= min_count)
    vocab = {PAD: 0, UNK: 1, **{w: i + 2 for i, w in enumerate(words)}}
    return _bare(vocab)


def encode(
    tokenizer: Tokenizer, texts: Sequence[str], max_length: int
) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), int64 (N, T), right-padded with 0 to the longest text.

    Empty texts keep one ``[UNK]`` token so every row has at least one real position.
    """
    unk = tokenizer.token_to_id(UNK)
    if unk is None:
        raise ValueError(f"the tokenizer has no {UNK} token; build it with build_tokenizer()")
    rows = [tokenizer.encode(t).ids[:max_length] or [unk] for t in texts]
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask
