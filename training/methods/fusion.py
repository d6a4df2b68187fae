"""Multimodal fusion: an image encoder and a text encoder feeding one answer head.

* ``ConcatFusion`` (the founding article): pooled image features and the text vector (LSTM or
  MiniLM) are concatenated, then Dense(256, relu) and a softmax head. The ``modalities``
  argument builds the same architecture with one modality zeroed out, for the image-only /
  text-only ablations.
* ``CrossAttentionFusion``: the text vector queries the image's spatial feature map (keys and
  values from the h x w positions, with a learned projection of their coordinates), so a
  question such as "what shape is the red one?" can look at the red object only.
"""

from __future__ import annotations

import torch
from torch import nn

from training.methods.base import (
    ATTENTION_MASK,
    IMAGE,
    INPUT_IDS,
    MultiOutputModel,
    TaskHeads,
)
from training.methods.encoders import ImageEncoder, TextEncoder


class ConcatFusion(MultiOutputModel):
    """(image, input_ids, attention_mask) -> {task: probabilities}; concatenation fusion."""

    input_names = (IMAGE, INPUT_IDS, ATTENTION_MASK)

    def __init__(
        self,
        image_encoder: ImageEncoder,
        text_encoder: TextEncoder,
        tasks: dict[str, int],
        hidden: int = 256,
        modalities: tuple[str, ...] = ("image", "text"),
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        self.use_image = "image" in modalities
        self.use_text = "text" in modalities
        dim = image_encoder.out_channels + text_encoder.out_dim
        self.heads = TaskHeads(dim, tasks, hidden)

    def raw(  # type: ignore[override]
        self, image: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        img = self.image_encoder.encode_image(image)  # (B, C)
        txt = self.text_encoder(input_ids, attention_mask)  # (B, H)
        if not self.use_image:
            img = torch.zeros_like(img)
        if not self.use_text:
            txt = torch.zeros_like(txt)
        fused = torch.cat([img, txt], dim=1)  # (B, C + H)
        logits: dict[str, torch.Tensor] = self.heads(fused)
        return logits


class CrossModalAttention(nn.Module):
    """Multi-head attention of one query vector over a set of positions."""

    def __init__(self, query_dim: int, key_dim: int, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"attention dim {dim} is not divisible by {heads} heads")
        self.heads, self.head_dim = heads, dim // heads
        self.q = nn.Linear(query_dim, dim)
        self.k = nn.Linear(key_dim, dim)
        self.v = nn.Linear(key_dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """query (B, Dq), keys (B, N, Dk) -> attended values (B, dim); values = keys."""
        b, n, _ = keys.shape
        q = self.q(query).view(b, self.heads, 1, self.head_dim)  # (B, h, 1, d)
        k = self.k(keys).view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, h, N, d)
        v = self.v(keys).view(b, n, self.heads, self.head_dim).transpose(1, 2)  # (B, h, N, d)
        scores = (q @ k.transpose(-1, -2)) / self.head_dim**0.5  # (B, h, 1, N)
        attended = torch.softmax(scores, dim=-1) @ v  # (B, h, 1, d)
        out: torch.Tensor = self.out(attended.reshape(b, self.heads * self.head_dim))  # (B, dim)
        return out


def _coordinates(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(h*w, 2) grid of (y, x) in [-1, 1] for positional information."""
    ys = torch.linspace(-1.0, 1.0, h, dtype=like.dtype)
    xs = torch.linspace(-1.0, 1.0, w, dtype=like.dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (h, w, 2)
    return grid.reshape(h * w, 2)


class CrossAttentionFusion(MultiOutputModel):
    """The text vector attends over the image's h x w feature map, then the answer head.

    Keys are the map's features plus a learned projection of each position's coordinates;
    values are the features. ``text_to_head=False`` answers from the attended vector alone.
    """

    input_names = (IMAGE, INPUT_IDS, ATTENTION_MASK)

    def __init__(
        self,
        image_encoder: ImageEncoder,
        text_encoder: TextEncoder,
        tasks: dict[str, int],
        hidden: int = 256,
        dim: int = 64,
        heads: int = 4,
        text_to_head: bool = True,
    ) -> None:
        super().__init__()
        self.image_encoder = image_encoder
        self.text_encoder = text_encoder
        channels = image_encoder.map_channels
        self.position = nn.Linear(2, channels)
        self.attention = CrossModalAttention(text_encoder.out_dim, channels, dim, heads)
        self.text_to_head = text_to_head
        joint = dim + (text_encoder.out_dim if text_to_head else 0)
        self.heads = TaskHeads(joint, tasks, hidden)

    def raw(  # type: ignore[override]
        self, image: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        fmap = self.image_encoder.features(image)  # (B, C, h, w)
        _b, _c, h, w = fmap.shape
        features = fmap.flatten(2).transpose(1, 2)  # (B, h*w, C)
        keys = features + self.position(_coordinates(h, w, fmap))  # (B, h*w, C)
        txt = self.text_encoder(input_ids, attention_mask)  # (B, H)
        attended = self.attention(txt, keys)  # (B, dim)
        joint = torch.cat([attended, txt], dim=1) if self.text_to_head else attended  # (B, dim + H)
        logits: dict[str, torch.Tensor] = self.heads(joint)
        return logits
