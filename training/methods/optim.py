"""The optimiser's parameter groups: weight decay, and a lower learning rate for pretrained towers.

A module marked with ``mark_pretrained_tower`` (the EfficientNet-Lite0 and MiniLM towers)
holds weights learnt elsewhere; the parts of it that train get ``tower_lr`` (by default a
tenth of the heads' rate, ``FitConfig.resolved_tower_lr``) so fine-tuning adapts them without
washing out what made them worth loading. Everything else trains at ``lr``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

#: The attribute that marks a module as a pretrained tower.
PRETRAINED_TOWER = "pretrained_tower"


def mark_pretrained_tower(module: nn.Module) -> nn.Module:
    """Flag ``module`` so its trainable parameters get the tower learning rate."""
    setattr(module, PRETRAINED_TOWER, True)
    return module


def tower_parameter_ids(model: nn.Module) -> set[int]:
    """``id`` of every parameter inside a marked tower (trainable or not)."""
    return {
        id(p)
        for module in model.modules()
        if getattr(module, PRETRAINED_TOWER, False)
        for p in module.parameters()
    }


def param_groups(
    model: nn.Module,
    lr: float,
    tower_lr: float,
    weight_decay: float,
    extra: list[nn.Parameter] | None = None,
) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices and kernels only (never on biases, norms or the
    ``extra`` loss parameters), and ``tower_lr`` for trained pretrained-tower parameters.
    Empty groups are left out."""
    in_tower = tower_parameter_ids(model)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for p in model.parameters():
        if p.requires_grad:
            groups.setdefault((id(p) in in_tower, p.dim() >= 2), []).append(p)
    groups.setdefault((False, False), []).extend(p for p in extra or [] if p.requires_grad)
    return [
        {
            "params": params,
            "lr": tower_lr if tower else lr,
            "weight_decay": weight_decay if decayed else 0.0,
        }
        for (tower, decayed), params in groups.items()
        if params
    ]
