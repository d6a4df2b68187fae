"""The sentiment heads: one small MLP, two outputs (valence regression, 3-class softmax).

Both tasks share the hidden layer (hard parameter sharing again, at the head level); the
model that ships averages a few heads trained from different seeds, which steadies the
valence correlation at no measurable serving cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.sentiment.labels import CLASSES, VALENCE_RANGE


class SentimentHead(nn.Module):
    """Per-layer pooled states ``(B, L, C)`` -> ``valence`` ``(B,)`` and ``logits`` ``(B, 3)``."""

    scales: torch.Tensor  # (L,) buffer: each layer's typical norm

    def __init__(
        self,
        scales: torch.Tensor,
        dim: int,
        *,
        hidden: int = 256,
        input_dropout: float = 0.2,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.register_buffer("scales", scales.detach().clone().float())  # (L,)
        self.body = nn.Sequential(
            nn.Dropout(input_dropout),
            nn.Linear(scales.numel() * dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
        )
        self.valence = nn.Linear(hidden, 1)
        self.sentiment = nn.Linear(hidden, len(CLASSES))

    def forward(self, layers: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (layers / self.scales[None, :, None]).flatten(1)  # (B, L*C), every layer ~unit norm
        h = self.body(x)  # (B, hidden)
        return {"valence": self.valence(h).squeeze(-1), "logits": self.sentiment(h)}


class HeadEnsemble(nn.Module):
    """Average of several ``SentimentHead``: mean valence (clamped), mean class probabilities."""

    def __init__(self, heads: list[SentimentHead]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def forward(self, layers: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [head(layers) for head in self.heads]
        valence = torch.stack([o["valence"] for o in outs]).mean(0)  # (B,)
        probs = torch.stack([F.softmax(o["logits"], dim=-1) for o in outs]).mean(0)  # (B, 3)
        return {"valence": valence.clamp(*VALENCE_RANGE), "sentiment": probs}
