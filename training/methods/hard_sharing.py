"""Hard parameter sharing: one shared feature extractor, one head per task (LibMTL's HPS).

The founding article's example: a shared trunk with a 10-class and a 5-class head, trained on
the sum of the task losses (weighted by a ``training.methods.weighting`` scheme). At inference
one trunk pass serves every task.
"""

from __future__ import annotations

import torch

from training.methods.base import IMAGE, MultiOutputModel, TaskHeads
from training.methods.encoders import ImageEncoder


class HardSharingModel(MultiOutputModel):
    """Image (B, 3, H, W) -> {task: probabilities (B, K_task)} from one shared encoder."""

    input_names = (IMAGE,)

    def __init__(self, encoder: ImageEncoder, tasks: dict[str, int], head_hidden: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        dim = encoder.out_channels
        self.heads = TaskHeads(dim, tasks, head_hidden)

    def raw(self, image: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        features = self.encoder.encode_image(image)  # (B, C)
        logits: dict[str, torch.Tensor] = self.heads(features)
        return logits
