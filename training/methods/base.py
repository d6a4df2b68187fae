"""What every trainable model here shares: named inputs, raw outputs, exported outputs.

``raw(*inputs)`` returns what the losses need (logits, unnormalised embeddings), keyed by
output name; ``forward(*inputs)`` turns those into what the ONNX graph exports and the manifest
describes: softmax probabilities for classifiers, L2-normalised vectors for embeddings.
Losses live outside ``forward``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

IMAGE = "image"
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TEXT_INPUTS = (INPUT_IDS, ATTENTION_MASK)


class MultiOutputModel(nn.Module):
    """Base class: subclasses set ``input_names`` and ``embedding_outputs`` and define ``raw``."""

    input_names: tuple[str, ...] = (IMAGE,)
    embedding_outputs: frozenset[str] = frozenset()

    def raw(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def forward(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inputs in ``input_names`` order -> exported outputs keyed by ONNX output name."""
        out = {}
        for name, value in self.raw(*inputs).items():
            if name in self.embedding_outputs:
                out[name] = F.normalize(value, dim=-1)
            else:
                out[name] = torch.softmax(value, dim=-1)
        return out

    def raw_from_batch(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``raw`` with inputs looked up by name in a batch dict."""
        return self.raw(*(batch[name] for name in self.input_names))


class ClassifierHead(nn.Module):
    """Features (B, D) -> logits (B, K): a linear layer, or one hidden ReLU layer first."""

    def __init__(self, in_dim: int, n_classes: int, hidden: int = 0, dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        if hidden:
            layers += [nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            in_dim = hidden
        layers.append(nn.Linear(in_dim, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(features)
        return logits


class TaskHeads(nn.Module):
    """One ``ClassifierHead`` per task, applied to shared features: {task: logits}.

    Held in a ``ModuleList`` rather than a ``ModuleDict``: task names come from user data and
    may clash with ``nn.Module`` attributes ("half", "train") or contain dots.
    """

    def __init__(self, in_dim: int, tasks: dict[str, int], hidden: int = 0) -> None:
        super().__init__()
        self.names = list(tasks)
        self.heads = nn.ModuleList(ClassifierHead(in_dim, n, hidden) for n in tasks.values())

    def head(self, task: str) -> nn.Module:
        return self.heads[self.names.index(task)]

    def forward(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(features) for name, head in zip(self.names, self.heads, strict=True)}
