"""The shared training loop learns, records its history and keeps frozen BatchNorm frozen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.methods import pipeline
from training.methods.build import build_objective
from training.methods.config import FitConfig, ImageEncoderConfig, TrainConfig, WeightingConfig
from training.methods.data import Examples
from training.methods.objectives import ClassificationObjective


def _colour_examples(n: int, seed: int) -> Examples:
    """16x16 images filled with one of two colours; task `tint` = which colour, `half` = noise."""
    rng = np.random.default_rng(seed)
    tint = rng.integers(0, 2, n)
    images = np.where(tint[:, None, None, None] == 1, [200, 40, 40], [40, 40, 200])
    images = np.clip(images + rng.normal(0, 10, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
    labels = {"tint": tint.astype(np.int64), "half": rng.integers(0, 2, n).astype(np.int64)}
    return Examples(
        "train",
        images,
        [f"item {i}" for i in range(n)],
        labels,
        {"tint": ["blue", "red"], "half": ["a", "b"]},
    )


def test_hard_sharing_learns_and_records_losses_weights_and_metrics() -> None:
    config = FitConfig(
        method="hard_sharing",
        image=ImageEncoderConfig(image_size=16, widths=(4, 8)),
        weighting=WeightingConfig("dwa"),
        train=TrainConfig(epochs=4, batch_size=16, lr=1e-2, warmup_steps=2),
    )
    prepared = pipeline.prepare(config, _colour_examples(128, 0), {"val": _colour_examples(64, 1)})
    result = pipeline.fit(prepared, monitor=("val",))
    history = result.history
    assert len(history.epochs) == 4 and history.steps == 4 * 8
    assert {"loss/tint", "loss/half", "weight/tint", "val/tint_accuracy"} <= set(history.epochs[-1])
    assert history.series("loss/tint")[-1] < history.series("loss/tint")[0]
    assert history.series("val/tint_accuracy")[-1] >= 0.95
    assert history.epochs[0]["weight/tint"] == 1.0  # DWA: weight 1 for the first two epochs
    assert not result.model.training  # handed back in eval mode
    # Per-epoch time and the running total, both named (the total used to read "seconds").
    epoch_s, total_s = history.series("epoch_s"), history.series("total_s")
    assert len(epoch_s) == len(total_s) == 4 and "seconds" not in history.epochs[0]
    assert all(t >= sum(epoch_s[: i + 1]) for i, t in enumerate(total_s))
    assert total_s == sorted(total_s) and epoch_s[-1] < total_s[-1]


def test_frozen_pretrained_tower_keeps_batchnorm_statistics() -> None:
    from training.methods.encoders import PretrainedEfficientNet

    encoder = PretrainedEfficientNet(
        ImageEncoderConfig(kind="efficientnet_lite0", image_size=32, frozen=True, pretrained=False)
    )
    before = encoder.tower._bn0.running_mean.clone()
    encoder.train()
    assert not encoder.tower.training
    encoder.encode_image(torch.randn(2, 3, 32, 32) * 5)
    assert torch.equal(encoder.tower._bn0.running_mean, before)
    assert not any(p.requires_grad for p in encoder.tower.parameters())


def test_a_pretrained_trunk_can_be_reused_frozen() -> None:
    from training.methods.build import Pretrained, build_model
    from training.methods.encoders import SmallCNN

    trunk = SmallCNN((4, 8))
    config = FitConfig(
        method="hard_sharing",
        image=ImageEncoderConfig(widths=(4, 8), init="some_config", frozen=True),
    )
    model = build_model(config, {"tint": 2}, pretrained=Pretrained(image_encoder=trunk))
    assert model.encoder is trunk and trunk.frozen
    model.train()
    assert not trunk.training  # BatchNorm statistics stay put
    assert all(not p.requires_grad for p in trunk.parameters())
    assert all(p.requires_grad for p in model.heads.parameters())


def test_a_config_that_names_a_trunk_needs_one() -> None:
    import pytest

    from training.methods.build import build_model

    config = FitConfig(image=ImageEncoderConfig(init="shapes_multitask"))
    with pytest.raises(ValueError, match="shapes_multitask"):
        build_model(config, {"tint": 2})


def test_balanced_class_weights_reach_the_loss_and_none_leaves_it_unweighted() -> None:
    train = _colour_examples(64, 0)
    train.labels["tint"][:] = 0
    train.labels["tint"][:8] = 1  # 56 blue, 8 red
    config = FitConfig(method="hard_sharing", class_weights="balanced")
    objective = build_objective(config, ["tint", "half"], train)
    assert isinstance(objective, ClassificationObjective)
    assert objective.class_weights["tint"].tolist() == pytest.approx([64 / 112, 64 / 16])
    plain = build_objective(FitConfig(method="hard_sharing"), ["tint"], train)
    assert isinstance(plain, ClassificationObjective) and plain.class_weights == {}
