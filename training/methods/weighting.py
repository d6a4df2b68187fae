"""Task-loss weighting for hard sharing, mirroring LibMTL's formulas.

* ``equal``: total = sum of losses (LibMTL EW sums with weight 1).
* ``fixed``: total = sum of w_i L_i with weights from the config.
* ``uncertainty`` (Kendall et al. CVPR 2018, LibMTL UW): learnable s_i = log sigma_i^2,
  initialised to -0.5; total = sum L_i / (2 exp(s_i)) + s_i / 2. The s_i must be kept out of
  weight decay (``decay_exempt``); the total can go negative, which is fine.
* ``dwa`` (Liu et al. CVPR 2019): w = T_tasks * softmax((Lbar_i(t-1) / Lbar_i(t-2)) / Temp)
  from epoch-average training losses, Temp = 2; weights are 1 for the first two epochs.
"""

from __future__ import annotations

import torch
from torch import nn

from training.methods.config import WeightingConfig


class LossWeighting(nn.Module):
    """Combine named task losses into one total; may learn parameters or keep state."""

    decay_exempt = True  # parameters here never take weight decay

    def __init__(self, tasks: list[str]) -> None:
        super().__init__()
        self.tasks = list(tasks)

    def weights(self) -> dict[str, float]:
        """The current effective weight of each task (for logging)."""
        return dict.fromkeys(self.tasks, 1.0)

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        w = self.weights()
        return sum((w[t] * losses[t] for t in self.tasks), torch.zeros(()))

    def end_epoch(self, epoch_losses: dict[str, float]) -> None:
        """Called with the epoch-average training loss of each task."""


class EqualWeighting(LossWeighting):
    """LibMTL EW: every task loss with weight 1."""


class FixedWeighting(LossWeighting):
    def __init__(self, tasks: list[str], weights: dict[str, float]) -> None:
        super().__init__(tasks)
        missing = set(tasks) - set(weights)
        if missing:
            raise ValueError(f"fixed weighting needs a weight for tasks {sorted(missing)}")
        self.fixed = {t: float(weights[t]) for t in tasks}

    def weights(self) -> dict[str, float]:
        return dict(self.fixed)


class UncertaintyWeighting(LossWeighting):
    def __init__(self, tasks: list[str]) -> None:
        super().__init__(tasks)
        self.log_vars = nn.Parameter(torch.full((len(tasks),), -0.5))

    def weights(self) -> dict[str, float]:
        scale = 1.0 / (2.0 * torch.exp(self.log_vars.detach()))
        return {t: float(scale[i]) for i, t in enumerate(self.tasks)}

    def combine(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack([losses[t] for t in self.tasks])  # (T,)
        s = self.log_vars
        return (stacked / (2.0 * torch.exp(s)) + s / 2.0).sum()


class DynamicWeightAveraging(LossWeighting):
    def __init__(self, tasks: list[str], temperature: float = 2.0) -> None:
        super().__init__(tasks)
        self.temperature = temperature
        self.history: list[list[float]] = []
        self.current = dict.fromkeys(tasks, 1.0)

    def weights(self) -> dict[str, float]:
        return dict(self.current)

    # The loss history is state, not a parameter: kept in state_dict for checkpoints.
    def get_extra_state(self) -> dict[str, object]:
        return {"history": self.history, "current": self.current}

    def set_extra_state(self, state: dict[str, object]) -> None:
        self.history = [list(h) for h in state["history"]]  # type: ignore[attr-defined]
        self.current = dict(state["current"])  # type: ignore[call-overload]

    def end_epoch(self, epoch_losses: dict[str, float]) -> None:
        self.history.append([epoch_losses[t] for t in self.tasks])
        if len(self.history) < 2:
            return
        prev, before = torch.tensor(self.history[-1]), torch.tensor(self.history[-2])
        ratio = prev / before.clamp(min=1e-12)
        w = len(self.tasks) * torch.softmax(ratio / self.temperature, dim=0)
        self.current = {t: float(w[i]) for i, t in enumerate(self.tasks)}


def build_weighting(config: WeightingConfig, tasks: list[str]) -> LossWeighting:
    if config.kind == "equal":
        return EqualWeighting(tasks)
    if config.kind == "fixed":
        return FixedWeighting(tasks, config.weights)
    if config.kind == "uncertainty":
        return UncertaintyWeighting(tasks)
    return DynamicWeightAveraging(tasks, config.temperature)
