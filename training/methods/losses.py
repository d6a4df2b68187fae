"""Losses, kept outside the models' ``forward``.

``AlignmentLoss`` is the one interface for aligning two modalities: it takes matching image
and text embeddings (row i of each is a positive pair) and returns a scalar.

* ``ContrastiveCosineLoss``: torch ``CosineEmbeddingLoss`` semantics with explicit negatives:
  positives cost 1 - cos(x_i, y_i); each image is also paired with texts of the batch shifted
  by random non-zero offsets (in-batch shuffled negatives, never itself), costing
  max(0, cos - margin). The founding article's margin contrastive loss over cosine distance.
  The negative term is averaged over the negatives that still violate the margin (as
  sentence-transformers' OnlineContrastiveLoss keeps only hard pairs): averaged over all of
  them, the many easy negatives dilute its gradient once most pairs are apart.
* ``InfoNCELoss``: CLIP's symmetric cross-entropy over the B x B cosine similarity matrix with a
  learnable temperature (logit scale initialised to 1/0.07, clamped at 100).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class AlignmentLoss(nn.Module):
    """Loss(image_embeddings (B, D), text_embeddings (B, D)) -> scalar; rows i are pairs."""

    decay_exempt = True  # a learnable temperature must not decay toward zero

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class ContrastiveCosineLoss(AlignmentLoss):
    """``negatives`` shuffled copies of the text batch give each image that many negatives;
    ``None`` uses every non-matching in-batch pair (all B - 1 shifts). Positive and negative
    terms are averaged separately and weighted equally.

    ``average="active"`` (default) averages the negative hinge over the pairs with
    cos > margin; ``"all"`` over every negative pair, which is torch's CosineEmbeddingLoss over
    a batch with as many positive as negative pairs. On the shapes world (16,000 scenes,
    margin 0.3) "all" reached held-out recall@1 0.46 / 0.54 (image->text / text->image) and
    zero-shot top-1 0.01, "active" 0.96 / 0.96 and 0.36.
    """

    def __init__(
        self, margin: float = 0.5, negatives: int | None = None, average: str = "active"
    ) -> None:
        super().__init__()
        if average not in ("active", "all"):
            raise ValueError(f"average must be 'active' or 'all', got {average!r}")
        self.margin = margin
        self.negatives = negatives
        self.average = average

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        b = image.shape[0]
        sims = F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T  # (B, B) cosines
        pos = sims.diagonal()  # (B,)
        shifts = torch.randperm(b - 1)[: self.negatives or b - 1] + 1  # (K,) in 1..B-1
        rows = torch.arange(b)
        neg = sims[rows[None, :], (rows[None, :] + shifts[:, None]) % b]  # (K, B)
        hinge = (neg - self.margin).clamp(min=0.0)
        if self.average == "active":
            negative = hinge.sum() / (hinge > 0).sum().clamp(min=1)
        else:
            negative = hinge.mean()
        return ((1.0 - pos).mean() + negative) / 2.0


class InfoNCELoss(AlignmentLoss):
    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        self.max_log_scale = math.log(max_scale)

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.logit_scale.detach()))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        scale = self.logit_scale.clamp(max=self.max_log_scale).exp()
        logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T  # (B, B)
        target = torch.arange(image.shape[0])
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2.0


def build_alignment_loss(
    kind: str, margin: float = 0.5, negatives: int | None = None
) -> AlignmentLoss:
    if kind == "contrastive":
        return ContrastiveCosineLoss(margin, negatives)
    if kind == "infonce":
        return InfoNCELoss()
    raise ValueError(f"unknown alignment loss {kind!r}; use 'contrastive' or 'infonce'")
