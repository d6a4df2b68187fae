"""Modality alignment: image and text towers projected into one embedding space.

Trained with an ``AlignmentLoss`` (``training.methods.losses``) on matching (image, caption)
pairs. Each tower exports as its own graph (``ImageTower``, ``TextTower``), so the service can
embed either modality alone and pair the two models through their shared ``space``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.methods.base import (
    ATTENTION_MASK,
    IMAGE,
    INPUT_IDS,
    MultiOutputModel,
)
from training.methods.encoders import ImageEncoder, LSTMTextEncoder

IMAGE_EMBEDDING = "image_embedding"
TEXT_EMBEDDING = "text_embedding"


class AlignmentModel(MultiOutputModel):
    """(image, input_ids, attention_mask) -> both embeddings, L2-normalised in ``forward``."""

    input_names = (IMAGE, INPUT_IDS, ATTENTION_MASK)
    embedding_outputs = frozenset({IMAGE_EMBEDDING, TEXT_EMBEDDING})

    def __init__(
        self, image_encoder: ImageEncoder, text_encoder: LSTMTextEncoder, dim: int
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.image_proj = nn.Linear(image_encoder.out_channels, dim)
        self.text_proj = nn.Linear(text_encoder.out_dim, dim)

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
