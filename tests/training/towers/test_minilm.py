"""all-MiniLM-L6-v2: mean pooling, unit vectors, serving tokenizer, sentence-transformers parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.towers.minilm import (
    MiniLMEncoder,
    embed_texts,
    load_tokenizer,
    mean_pool,
    serving_tokenizer_json,
    tokenize,
)


def test_mean_pool_ignores_padding():
    states = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, -100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    assert torch.allclose(mean_pool(states, mask), torch.tensor([[2.0, 2.0]]))


def test_tiny_minilm_embeddings_are_unit_length_and_padding_invariant():
    encoder, tokenizer = MiniLMEncoder.tiny(), load_tokenizer()
    alone = embed_texts(encoder, tokenizer, ["a cat"])
    padded = embed_texts(
        encoder, tokenizer, ["a cat", "a much longer sentence about dogs"], batch_size=2
    )
    assert alone.shape == (1, 32)
    assert torch.allclose(alone.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert torch.allclose(alone[0], padded[0], atol=1e-5)


def test_serving_tokenizer_pads_per_batch_and_truncates_at_max_length():
    import json

    spec = json.loads(serving_tokenizer_json(max_length=16))
    assert spec["padding"] is None and spec["truncation"]["max_length"] == 16
    batch = tokenize(load_tokenizer(max_length=16), ["hi", "word " * 50])
    assert batch["input_ids"].shape == (2, 16)
    assert batch["attention_mask"][0].sum() == 3  # [CLS] hi [SEP], the rest is padding


@pytest.mark.slow
def test_minilm_matches_sentence_transformers_encode(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the reference must load from disk too
    from sentence_transformers import SentenceTransformer

    from training.towers.minilm import minilm_dir

    texts = ["a cat", "I HATE this movie!!! :(", "naïve café, résumé 😀", "word " * 300]
    ours = embed_texts(MiniLMEncoder.pretrained(), load_tokenizer(), texts, batch_size=2)
    reference = SentenceTransformer(str(minilm_dir()), device="cpu", local_files_only=True)
    assert np.abs(ours.numpy() - reference.encode(texts)).max() < 1e-5
