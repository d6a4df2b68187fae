"""Soft parameter sharing: one network per task, held close by an L2 penalty.

Loss = sum of task losses + lambda * sum over task pairs (a, b) of ||w_a - w_b||^2 over
corresponding trunk parameters (Duong et al. 2015, as in Ruder's overview). Parameters only:
BatchNorm running statistics are buffers and are never pulled together; BatchNorm's affine
weight and bias are parameters and are. Heads differ in shape and are not penalised. The
exported graph holds every task network and runs each trunk once (two passes for two tasks).
"""

from __future__ import annotations

import itertools
from typing import cast

import torch
from torch import nn

from training.methods.base import IMAGE, MultiOutputModel, TaskHeads
from training.methods.encoders import ImageEncoder, clone_encoder


class SoftSharingModel(MultiOutputModel):
    """Image -> {task: probabilities}, each task through its own encoder and head."""

    input_names = (IMAGE,)

    def __init__(self, encoder: ImageEncoder, tasks: dict[str, int], head_hidden: int = 0) -> None:
        super().__init__()
        # Each task gets its own, independently initialised copy of the architecture.
        self.encoders = nn.ModuleList(
            encoder if i == 0 else clone_encoder(encoder) for i in range(len(tasks))
        )
        self.heads = TaskHeads(encoder.out_channels, tasks, head_hidden)

    def encoder(self, task: str) -> ImageEncoder:
        """The network of one task."""
        return self._task_encoders()[self.heads.names.index(task)]

    def _task_encoders(self) -> list[ImageEncoder]:
        # nn.ModuleList yields plain nn.Module to a type checker; every item is an ImageEncoder.
        return [cast(ImageEncoder, encoder) for encoder in self.encoders]

    def raw(self, image: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        return {
            task: head(encoder.encode_image(image))  # (B, K): one trunk pass per task
            for task, head, encoder in zip(
                self.heads.names, self.heads.heads, self._task_encoders(), strict=True
            )
        }

    def penalty(self) -> torch.Tensor:
        """sum over task pairs and paired trainable parameters of ||w_a - w_b||^2."""
        return parameter_distance(list(self.encoders))


def parameter_distance(networks: list[nn.Module]) -> torch.Tensor:
    """Squared L2 distance between corresponding parameters, summed over all pairs."""
    total = torch.zeros(())
    for net_a, net_b in itertools.combinations(networks, 2):
        pairs = zip(net_a.named_parameters(), net_b.named_parameters(), strict=True)
        for (name_a, p_a), (name_b, p_b) in pairs:
            if name_a != name_b or p_a.shape != p_b.shape:
                raise ValueError(f"networks differ at {name_a} / {name_b}: not twins")
            if p_a.requires_grad:
                total = total + (p_a - p_b).pow(2).sum()
    return total
