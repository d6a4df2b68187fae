"""What a training step minimises, per method: named losses and their weighted total.

Each loss is logged by name; the total is their weighted sum. The objective is an
``nn.Module`` so learnable loss parameters (uncertainty weights, the InfoNCE temperature) are
optimised with the model, without weight decay.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from training.methods.alignment import IMAGE_EMBEDDING, TEXT_EMBEDDING
from training.methods.base import MultiOutputModel
from training.methods.data import LABEL_PREFIX
from training.methods.losses import AlignmentLoss
from training.methods.soft_sharing import SoftSharingModel
from training.methods.weighting import EqualWeighting, LossWeighting

PENALTY = "soft_penalty"


class Objective(nn.Module):
    """losses(model, batch) -> {name: scalar}; total(losses) -> scalar to minimise."""

    def losses(
        self, model: MultiOutputModel, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def total(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(losses.values(), torch.zeros(()))

    def end_epoch(self, epoch_losses: dict[str, float]) -> None:
        """Hook for schemes that adapt between epochs (DWA)."""

    def loss_weights(self) -> dict[str, float]:
        return {}


class ClassificationObjective(Objective):
    """Cross-entropy per task, combined by a weighting; plus the soft-sharing penalty.

    Label smoothing matters for composition: with held-out (shape, colour) pairs, "purple"
    never co-occurs with "star" in training, so plain cross-entropy keeps rewarding a colour
    prior that pushes "star" ever lower for purple objects, and a purple star is then misread.
    With smoothing every wrong class has the same target mass, so once the shape evidence is
    confident that prior no longer lowers the loss and is unlearned.
    """

    def __init__(
        self,
        tasks: list[str],
        weighting: LossWeighting | None = None,
        soft_lambda: float = 0.0,
        label_smoothing: float = 0.0,
        class_weights: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.weighting = weighting or EqualWeighting(self.tasks)
        self.soft_lambda = soft_lambda
        self.label_smoothing = label_smoothing
        self.class_weights = dict(class_weights or {})  # task -> (K,); absent: unweighted

    def losses(
        self, model: MultiOutputModel, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        logits = model.raw_from_batch(batch)
        out = {
            t: F.cross_entropy(
                logits[t],
                batch[LABEL_PREFIX + t],
                weight=self._class_weight(t, logits[t].device),
                label_smoothing=self.label_smoothing,
            )
            for t in self.tasks
        }
        if self.soft_lambda and isinstance(model, SoftSharingModel):
            out[PENALTY] = model.penalty()
        return out

    def _class_weight(self, task: str, device: torch.device) -> torch.Tensor | None:
        weight = self.class_weights.get(task)
        return None if weight is None else weight.to(device)  # a plain dict: not moved with .to

    def total(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = self.weighting.combine({t: losses[t] for t in self.tasks})
        if PENALTY in losses:
            total = total + self.soft_lambda * losses[PENALTY]
        return total

    def end_epoch(self, epoch_losses: dict[str, float]) -> None:
        self.weighting.end_epoch(epoch_losses)

    def loss_weights(self) -> dict[str, float]:
        return self.weighting.weights()


class AlignmentObjective(Objective):
    """One alignment loss between the model's image and text embeddings."""

    def __init__(self, loss: AlignmentLoss) -> None:
        super().__init__()
        self.loss = loss

    def losses(
        self, model: MultiOutputModel, batch: Mapping[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        raw = model.raw_from_batch(batch)
        return {"alignment": self.loss(raw[IMAGE_EMBEDDING], raw[TEXT_EMBEDDING])}
