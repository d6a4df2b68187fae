"""Loss weighting schemes follow LibMTL's formulas; their parameters never decay."""

from __future__ import annotations

import math

import pytest
import torch

from training.methods.config import TrainConfig, WeightingConfig
from training.methods.encoders import SmallCNN
from training.methods.hard_sharing import HardSharingModel
from training.methods.objectives import ClassificationObjective
from training.methods.optim import param_groups
from training.methods.weighting import (
    DynamicWeightAveraging,
    UncertaintyWeighting,
    build_weighting,
)

TASKS = ["shape", "color"]


def _losses(a: float, b: float) -> dict[str, torch.Tensor]:
    return {"shape": torch.tensor(a), "color": torch.tensor(b)}


def test_equal_weighting_sums() -> None:
    w = build_weighting(WeightingConfig("equal"), TASKS)
    assert float(w.combine(_losses(2.0, 3.0))) == pytest.approx(5.0)


def test_fixed_weighting_uses_config_weights_and_requires_all() -> None:
    w = build_weighting(WeightingConfig("fixed", {"shape": 2.0, "color": 0.5}), TASKS)
    assert float(w.combine(_losses(2.0, 3.0))) == pytest.approx(5.5)
    with pytest.raises(ValueError, match="color"):
        build_weighting(WeightingConfig("fixed", {"shape": 1.0}), TASKS)


def test_uncertainty_weighting_matches_kendall_libmtl_form() -> None:
    w = UncertaintyWeighting(TASKS)
    assert torch.allclose(w.log_vars, torch.full((2,), -0.5))
    total = w.combine(_losses(2.0, 3.0))
    s = -0.5
    expected = 2.0 / (2 * math.exp(s)) + s / 2 + 3.0 / (2 * math.exp(s)) + s / 2
    assert float(total.detach()) == pytest.approx(expected, rel=1e-6)
    assert w.weights()["shape"] == pytest.approx(1 / (2 * math.exp(s)))
    total.backward()
    assert w.log_vars.grad is not None  # s_i are learned


def test_uncertainty_parameters_are_kept_out_of_weight_decay() -> None:
    model = HardSharingModel(SmallCNN((4, 8)), {"shape": 10, "color": 5})
    objective = ClassificationObjective(TASKS, UncertaintyWeighting(TASKS))
    config = TrainConfig()
    groups = param_groups(
        model, config.lr, config.lr / 10, config.weight_decay, list(objective.parameters())
    )
    decayed, plain = sorted(groups, key=lambda g: -g["weight_decay"])
    log_vars = objective.weighting.log_vars
    assert all(p is not log_vars for p in decayed["params"])
    assert any(p is log_vars for p in plain["params"]) and plain["weight_decay"] == 0.0


def test_dwa_weights_are_one_for_two_epochs_then_follow_loss_ratios() -> None:
    w = DynamicWeightAveraging(TASKS, temperature=2.0)
    assert w.weights() == {"shape": 1.0, "color": 1.0}
    w.end_epoch({"shape": 2.0, "color": 1.0})
    assert w.weights() == {"shape": 1.0, "color": 1.0}  # still epoch 2
    w.end_epoch({"shape": 1.0, "color": 1.0})  # shape fell by half, colour flat
    r = torch.tensor([0.5, 1.0]) / 2.0
    expected = 2 * torch.softmax(r, 0)
    assert w.weights()["shape"] == pytest.approx(float(expected[0]))
    assert w.weights()["color"] == pytest.approx(float(expected[1]))
    assert sum(w.weights().values()) == pytest.approx(2.0)
