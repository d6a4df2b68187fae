"""Optimizer parameter groups: pretrained towers learn slower than the layers trained from scratch.

A module marks itself as a pretrained tower with the class attribute ``pretrained_tower = True``
(``MiniLMTextEncoder``, ``PretrainedEfficientNet``). Its parameters that still train (MiniLM's
top layers, ...) go in groups with ``tower_lr``; every other trained parameter gets ``lr``. As
in nanoGPT, weight decay applies to weight matrices and kernels only, never to biases or norms.
``LambdaLR`` scales each group's own ``lr``, so warm-up and cosine decay keep the ratio.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from training.methods.config import resolve_tower_lr


def tower_parameter_ids(model: nn.Module) -> set[int]:
    """``id`` of every parameter inside a module marked ``pretrained_tower``."""
    ids: set[int] = set()
    for module in model.modules():
        if getattr(module, "pretrained_tower", False):
            ids.update(id(p) for p in module.parameters())
    return ids


def param_groups(
    model: nn.Module, lr: float, tower_lr: float | None = None, weight_decay: float = 0.0
) -> list[dict[str, Any]]:
    """AdamW groups of ``model``'s trainable parameters: (tower or not) x (decayed or not).

    Empty groups are left out; each group carries a ``name`` for logs and tests.
    """
    rate = {True: resolve_tower_lr(lr, tower_lr), False: lr}
    in_tower = tower_parameter_ids(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((id(p) in in_tower, p.dim() >= 2), []).append(p)
    return [
        {
            "name": f"{'tower' if tower else 'head'}{'' if decayed else '/no_decay'}",
            "params": params,
            "lr": rate[tower],
            "weight_decay": weight_decay if decayed else 0.0,
        }
        for (tower, decayed), params in sorted(groups.items())
    ]
