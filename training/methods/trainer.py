"""The training loop shared by every method: AdamW, warm-up then cosine decay, tqdm bars.

Small on purpose (nanoGPT-style): the method-specific parts live in the model (``raw``) and
the ``Objective`` (named losses and their total). Returns a ``History`` with the per-epoch
training losses, loss weights, evaluation metrics and wall time, for the report's curves.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from training.methods.base import MultiOutputModel
from training.methods.config import TrainConfig
from training.methods.data import Batches
from training.methods.objectives import Objective
from training.methods.optim import param_groups

log = logging.getLogger(__name__)

Evaluate = Callable[[MultiOutputModel], dict[str, float]]


@dataclass
class History:
    """Per-epoch records: ``{"epoch", "epoch_s", "total_s", "loss/<name>", "weight/<task>",
    <metric>}``: ``epoch_s`` is that epoch's training time, ``total_s`` the time since the start."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    steps: int = 0

    def series(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs if key in e]


def _schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def train(
    model: MultiOutputModel,
    objective: Objective,
    batches: Batches,
    config: TrainConfig,
    evaluate: Evaluate | None = None,
    desc: str = "train",
    tower_lr: float | None = None,
) -> History:
    """Train ``model`` in place for ``config.epochs`` epochs and return its history.

    ``tower_lr``: learning rate of trained pretrained-tower parameters (None: ``lr / 10``).
    """
    torch.set_num_threads(config.threads)
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's overloads omit it
    groups = param_groups(
        model,
        config.lr,
        config.lr / 10 if tower_lr is None else tower_lr,
        config.weight_decay,
        extra=list(objective.parameters()),
    )
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    total_steps = config.epochs * batches.steps_per_epoch()
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(min(config.warmup_steps, total_steps // 4 + 1), total_steps)
    )
    rng = np.random.default_rng(config.seed)
    history = History()
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        sums = _run_epoch(model, objective, batches, optimizer, scheduler, rng, f"{desc} {epoch}")
        history.steps += batches.steps_per_epoch()
        now = time.perf_counter()
        record = _epoch_record(epoch, sums, objective, now - epoch_started, now - started)
        objective.end_epoch({k[5:]: v for k, v in record.items() if k.startswith("loss/")})
        if evaluate is not None:
            record.update(evaluate(model))
        history.epochs.append(record)
        log.info("%s epoch %d: %s", desc, epoch, _fmt(record))
    history.seconds = time.perf_counter() - started
    model.eval()
    return history


def _run_epoch(
    model: MultiOutputModel,
    objective: Objective,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    rng: np.random.Generator,
    desc: str,
) -> dict[str, float]:
    model.train()
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(batches.epoch(rng), total=batches.steps_per_epoch(), desc=desc, mininterval=1.0)
    for batch in bar:
        losses = objective.losses(model, batch)
        total = objective.total(losses)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        scheduler.step()
        count += 1
        for name, value in losses.items():
            sums[name] = sums.get(name, 0.0) + float(value.detach())
        bar.set_postfix(loss=f"{float(total.detach()):.3f}", refresh=False)
    return {name: value / max(count, 1) for name, value in sums.items()}


def _epoch_record(
    epoch: int, sums: dict[str, float], objective: Objective, epoch_s: float, total_s: float
) -> dict[str, float]:
    record: dict[str, float] = {"epoch": float(epoch), "epoch_s": epoch_s, "total_s": total_s}
    record.update({f"loss/{k}": v for k, v in sums.items()})
    record.update({f"weight/{k}": v for k, v in objective.loss_weights().items()})
    return record


def _fmt(record: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in record.items() if k != "epoch")
