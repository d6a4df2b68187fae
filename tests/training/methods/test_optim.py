"""Pretrained towers train at tower_lr, only their top layers, with frozen layers in eval mode."""

from __future__ import annotations

import pytest
import torch

from training.methods.alignment import AlignmentModel
from training.methods.config import ImageEncoderConfig, TextEncoderConfig
from training.methods.encoders import MiniLMTextEncoder, SmallCNN
from training.methods.fusion import ConcatFusion
from training.methods.optim import param_groups
from training.towers.minilm import MiniLMEncoder, load_tokenizer, tokenize


def _text(trainable_layers: int) -> MiniLMTextEncoder:
    config = TextEncoderConfig(kind="minilm", trainable_layers=trainable_layers)
    return MiniLMTextEncoder(config, tower=MiniLMEncoder.tiny(layers=2))


def _batch() -> dict[str, torch.Tensor]:
    tokens = tokenize(load_tokenizer(), ["a red star", "a small blue square"])
    return {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}


def test_only_the_top_layers_train_and_they_take_tower_lr() -> None:
    model = ConcatFusion(SmallCNN((4, 8)), _text(1), {"shape": 3}, hidden=8)
    groups = {g["name"]: g for g in param_groups(model, lr=1e-3, weight_decay=0.05)}
    assert set(groups) == {"head", "head/no_decay", "tower", "tower/no_decay"}
    top = {id(p) for p in model.text_encoder.tower.bert.encoder.layer[1].parameters()}
    tower = {id(p) for name in ("tower", "tower/no_decay") for p in groups[name]["params"]}
    assert tower == top  # the lower layer and the token embeddings stay frozen
    assert groups["tower"]["lr"] == pytest.approx(1e-4)  # default: lr / 10
    assert groups["head"]["lr"] == 1e-3 and groups["tower/no_decay"]["weight_decay"] == 0.0
    explicit = param_groups(model, lr=1e-3, tower_lr=3e-5)
    assert {g["name"]: g["lr"] for g in explicit}["tower"] == 3e-5


def test_a_frozen_tower_has_no_group_and_computes_the_pretrained_embedding() -> None:
    text = _text(0)
    assert all(not p.requires_grad for p in text.parameters())
    model = AlignmentModel(SmallCNN((4, 8)), text, 16)
    assert {g["name"] for g in param_groups(model, lr=1e-3)} == {"head", "head/no_decay"}
    model.train()
    assert not text.tower.training  # dropout off: the tower's output does not change
    batch = _batch()
    expected = text.tower.encode_text(**batch, token_type_ids=torch.zeros_like(batch["input_ids"]))
    assert torch.allclose(text(**batch), expected)
    assert torch.allclose(text(**batch).norm(dim=-1), torch.ones(2), atol=1e-5)


def test_training_moves_the_top_layer_and_leaves_the_rest() -> None:
    text = _text(1).train()
    layers = text.tower.bert.encoder.layer
    assert layers[1].training and not layers[0].training
    before = {n: p.detach().clone() for n, p in text.named_parameters()}
    optimizer = torch.optim.AdamW(param_groups(text, lr=1e-2), lr=1e-2)
    text(**_batch()).sum().backward()
    optimizer.step()
    moved = {n for n, p in text.named_parameters() if not torch.equal(p, before[n])}
    assert moved and all(".layer.1." in n for n in moved)


def test_a_locked_tower_is_the_space_itself() -> None:
    image = SmallCNN((4, 8))
    locked = AlignmentModel(image, _text(0), dim=64, locked="text")
    assert locked.dim == 32  # the tiny tower's width, not dim
    assert isinstance(locked.text_proj, torch.nn.Identity)
    batch = _batch()
    assert locked.embed_text(**batch).shape == (2, 32)
    assert locked.embed_image(torch.zeros(2, 3, 16, 16)).shape == (2, 32)
    lit = AlignmentModel(image, _text(1), dim=64, locked="image")
    assert lit.dim == image.out_channels and isinstance(lit.image_proj, torch.nn.Identity)


def test_a_locked_efficientnet_is_frozen() -> None:
    from training.methods.encoders import PretrainedEfficientNet

    config = ImageEncoderConfig(kind="efficientnet_lite0", pretrained=False, locked=True)
    encoder = PretrainedEfficientNet(config)
    assert encoder.frozen and not any(p.requires_grad for p in encoder.parameters())
