"""Mixed precision (``fit --amp``): ``torch.autocast`` around the forward pass and the losses.

On CUDA: float16 with a ``GradScaler`` (float16 gradients underflow without loss scaling).
On CPU: bfloat16, which has float32's exponent range and so needs no scaler. Off: a plain
float32 step. The optimizer state, the weights and the exported ONNX model stay float32.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch


class Precision:
    """The forward-pass context and the backward/step of one training step."""

    def __init__(self, enabled: bool, device: torch.device) -> None:
        self.enabled, self.device = enabled, device
        cuda = device.type == "cuda"
        self.dtype = torch.float16 if cuda else torch.bfloat16
        self.scaler = torch.amp.GradScaler(device.type, enabled=enabled and cuda)

    def autocast(self) -> AbstractContextManager[Any]:
        return torch.autocast(self.device.type, dtype=self.dtype, enabled=self.enabled)

    def step(self, total: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimizer step (scaled, and skipped on inf/nan, under float16)."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
