"""Soft sharing: one network per task and an L2 penalty over paired parameters."""

from __future__ import annotations

import pytest
import torch

from training.methods.encoders import SmallCNN
from training.methods.objectives import PENALTY, ClassificationObjective
from training.methods.soft_sharing import SoftSharingModel, parameter_distance

TASKS = {"shape": 10, "color": 5}


def test_each_task_has_its_own_independently_initialised_network() -> None:
    torch.manual_seed(0)
    model = SoftSharingModel(SmallCNN((4, 8)), TASKS)
    a, b = model.encoder("shape"), model.encoder("color")
    assert a is not b
    assert not torch.equal(a.body[0].weight, b.body[0].weight)
    assert float(model.penalty()) > 0


def test_penalty_is_the_squared_distance_over_parameters_only() -> None:
    torch.manual_seed(0)
    model = SoftSharingModel(SmallCNN((4, 8)), TASKS)
    a, b = model.encoder("shape"), model.encoder("color")
    manual = sum(
        ((pa - pb) ** 2).sum() for pa, pb in zip(a.parameters(), b.parameters(), strict=True)
    )
    assert float(model.penalty()) == pytest.approx(float(manual), rel=1e-5)
    # BatchNorm running statistics are buffers: changing them leaves the penalty unchanged.
    before = float(model.penalty())
    b.body[1].running_mean += 5.0
    assert float(model.penalty()) == pytest.approx(before, rel=1e-6)


def test_identical_networks_have_zero_penalty() -> None:
    net = SmallCNN((4, 8))
    twin = SmallCNN((4, 8))
    twin.load_state_dict(net.state_dict())
    assert float(parameter_distance([net, twin])) == 0.0


def test_penalty_enters_the_total_with_lambda() -> None:
    torch.manual_seed(0)
    model = SoftSharingModel(SmallCNN((4, 8)), TASKS)
    objective = ClassificationObjective(list(TASKS), soft_lambda=0.1)
    batch = {
        "image": torch.randn(4, 3, 16, 16),
        "label:shape": torch.tensor([0, 1, 2, 3]),
        "label:color": torch.tensor([0, 1, 2, 3]),
    }
    losses = objective.losses(model, batch)
    assert PENALTY in losses
    total = objective.total(losses)
    expected = losses["shape"] + losses["color"] + 0.1 * losses[PENALTY]
    assert float(total) == pytest.approx(float(expected), rel=1e-6)
    total.backward()
    grad = model.encoder("color").body[0].weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0


def test_outputs_come_from_separate_trunks() -> None:
    torch.manual_seed(0)
    model = SoftSharingModel(SmallCNN((4, 8)), TASKS).eval()
    image = torch.randn(2, 3, 16, 16)
    before = model(image)["shape"].clone()
    with torch.no_grad():
        model.encoder("color").body[0].weight.add_(1.0)
    assert torch.equal(model(image)["shape"], before)  # the colour trunk does not feed shape
