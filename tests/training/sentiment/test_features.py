"""The per-layer feature pass (ONNX Runtime) matches the PyTorch trunk."""

from __future__ import annotations

import numpy as np
import torch


def test_onnx_feature_pass_matches_the_torch_trunk():
    from training.sentiment.features import compute_layer_features, pooled_layers
    from training.towers.minilm import MiniLMEncoder, load_tokenizer, tokenize

    encoder, tokenizer = MiniLMEncoder.tiny(), load_tokenizer()
    texts = ["a much longer sentence than the others", "short", "a medium one"]
    features = compute_layer_features(encoder, tokenizer, texts, batch_size=2, progress=False)
    with torch.no_grad():
        _, reference = pooled_layers(encoder, **tokenize(tokenizer, texts))
    assert features.shape == (3, encoder.layers, encoder.dim)
    assert np.abs(features - reference.numpy()).max() < 1e-4
