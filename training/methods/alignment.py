"""Modality alignment: image and text towers projected into one embedding space.

Trained with an ``AlignmentLoss`` (``training.methods.losses``) on matching (image, caption)
pairs. Each tower exports as its own graph (``ImageTower``, ``TextTower``), so the service can
embed either modality alone and pair the two models through their shared ``space``.

``locked`` (LiT, Zhai et al. 2022, "Locked-image Tuning"): the locked tower is frozen and has
no projection, so its own pooled features ARE the shared space (1280-d for EfficientNet-Lite0,
384-d for MiniLM) and only the other tower and its projection learn, reading a representation
that pretraining already organised. Locking the text tower puts images into the MiniLM
sentence space, where any phrasing of a caption lands.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from training.methods.base import (
    ATTENTION_MASK,
    IMAGE,
    INPUT_IDS,
    MultiOutputModel,
)
from training.methods.encoders import ImageEncoder, TextEncoder

IMAGE_EMBEDDING = "image_embedding"
TEXT_EMBEDDING = "text_embedding"


class AlignmentModel(MultiOutputModel):
    """(image, input_ids, attention_mask) -> both embeddings, L2-normalised in ``forward``."""

    input_names = (IMAGE, INPUT_IDS, ATTENTION_MASK)
    embedding_outputs = frozenset({IMAGE_EMBEDDING, TEXT_EMBEDDING})

    def __init__(
        self,
        image_encoder: ImageEncoder,
        text_encoder: TextEncoder,
        dim: int,
        locked: Literal["image", "text"] | None = None,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        widths = {"image": image_encoder.out_channels, "text": text_encoder.out_dim}
        self.dim = widths[locked] if locked else dim  # the shared space's width
        self.image_proj = self._projection(widths["image"], locked == "image")
        self.text_proj = self._projection(widths["text"], locked == "text")

    def _projection(self, width: int, locked: bool) -> nn.Module:
        return nn.Identity() if locked else nn.Linear(width, self.dim)

    def embed_image(self, image: torch.Tensor) -> torch.Tensor:
        """Image (B, 3, H, W) -> unnormalised embedding (B, dim)."""
        embedding: torch.Tensor = self.image_proj(self.image_encoder.encode_image(image))
        return embedding

    def embed_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Ids and mask (B, T) -> unnormalised embedding (B, dim)."""
        embedding: torch.Tensor = self.text_proj(self.text_encoder(input_ids, attention_mask))
        return embedding

    def raw(  # type: ignore[override]
        self, image: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return {
            IMAGE_EMBEDDING: self.embed_image(image),
            TEXT_EMBEDDING: self.embed_text(input_ids, attention_mask),
        }


class ImageTower(nn.Module):
    """Export wrapper: image -> {"embedding": (B, dim) unit vectors}."""

    def __init__(self, model: AlignmentModel, output: str = "embedding") -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {self.output: F.normalize(self.model.embed_image(image), dim=-1)}


class TextTower(nn.Module):
    """Export wrapper: (input_ids, attention_mask) -> {"embedding": (B, dim) unit vectors}."""

    def __init__(self, model: AlignmentModel, output: str = "embedding") -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        return {self.output: F.normalize(self.model.embed_text(input_ids, attention_mask), dim=-1)}
