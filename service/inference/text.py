"""Tokenisation with the ``tokenizer.json`` shipped beside a model (Hugging Face ``tokenizers``).

Items are tokenised one by one, truncated to the manifest's ``max_length`` and NOT padded: the
session pads each batch to its longest item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from contract.manifest import TextInput
from service.errors import InvalidInputError


class TextEncoder:
    """Turns a string into the token arrays a model's text inputs take (1-D int64 each)."""

    def __init__(self, spec: TextInput, version_dir: Path) -> None:
        self.spec = spec
        self._tokenizer = Tokenizer.from_file(str(version_dir / spec.tokenizer))
        self.pad_id = _pad_id(self._tokenizer)  # read before padding is switched off
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=spec.max_length)

    def encode(self, text: str) -> dict[str, np.ndarray]:
        """Token ids, attention mask and token type ids keyed by role (``text``, ...)."""
        if not text.strip():
            raise InvalidInputError("a text is empty; send at least one non-space character")
        encoding = self._tokenizer.encode(text.lower() if self.spec.lowercase else text)
        return {
            "text": np.asarray(encoding.ids, dtype=np.int64),
            "attention_mask": np.asarray(encoding.attention_mask, dtype=np.int64),
            "token_type_ids": np.asarray(encoding.type_ids, dtype=np.int64),
        }


def _pad_id(tokenizer: Tokenizer) -> int:
    padding = tokenizer.padding
    if padding and "pad_id" in padding:
        return int(padding["pad_id"])
    for token in ("[PAD]", "<pad>"):
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return int(token_id)
    return 0
