"""ConSE: probability-weighted class embeddings; ImageNet names and prompts."""

from __future__ import annotations

import pytest
import torch

from training.towers.conse import ConSE, class_prompts, clean_names, imagenet_labels


def test_conse_one_hot_returns_that_class_embedding():
    torch.manual_seed(0)
    table = torch.randn(6, 4)
    conse = ConSE(table, top_t=2)
    probs = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.5, 0.3, 0.0, 0.0, 0.2, 0.0]])
    out = conse(probs)
    assert torch.allclose(out[0], torch.nn.functional.normalize(table[2], dim=0), atol=1e-6)
    expected = torch.nn.functional.normalize(0.5 * table[0] + 0.3 * table[1], dim=0)
    assert torch.allclose(out[1], expected, atol=1e-6)  # class 4 is outside the top 2
    with pytest.raises(ValueError):
        ConSE(table, top_t=7)


def test_imagenet_names_and_prompts():
    labels, names = imagenet_labels(), clean_names()
    assert len(labels) == len(names) == 1000
    assert labels[281] == "tabby, tabby cat"
    assert class_prompts("a photo of a {}.")[967] == f"a photo of a {names[967]}."
