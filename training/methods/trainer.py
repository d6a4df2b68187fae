"""The training loop shared by every method: AdamW, warm-up then cosine decay, tqdm bars.

Small on purpose (nanoGPT-style): the method-specific parts live in the model (``raw``) and
the ``Objective`` (named losses and their total). Returns a ``History`` with the per-epoch
training losses, loss weights, evaluation metrics and wall time, for the report's curves.
A ``Runtime`` says how the loop runs: one of several processes (``training.distributed``), with
a checkpoint per epoch and ``--resume`` (``training.checkpoints``), in mixed precision
(``training.precision``); by default one process, float32, no checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from training.checkpoints import Checkpoints
from training.distributed import Context, Loader, wrap
from training.methods.base import MultiOutputModel
from training.methods.config import TrainConfig
from training.methods.data import Batches
from training.methods.objectives import Objective
from training.methods.optim import param_groups
from training.precision import Precision

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


def _param_groups(
    model: nn.Module, objective: Objective, config: TrainConfig, tower_lr: float | None
) -> list[dict[str, Any]]:
    """The model's groups (``optim.param_groups``: towers at ``tower_lr``), then the loss's own
    parameters (learnable temperature, uncertainty weights), never decayed."""
    groups = param_groups(model, config.lr, tower_lr, config.weight_decay)
    plain = [p for p in objective.parameters() if p.requires_grad]
    if plain:
        groups.append({"name": "objective", "params": plain, "lr": config.lr, "weight_decay": 0.0})
    return groups


def _schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


@dataclass
class Runtime:
    """How a run executes, not what it learns (so not in the config): the process group it is
    part of, its checkpoints, resuming, mixed precision. The default: one process, as always."""

    context: Context = field(default_factory=Context)
    checkpoints: Checkpoints | None = None
    resume: bool = False
    amp: bool = False


class _Step(nn.Module):
    """The model and its objective as one module whose forward returns the losses and their
    total: what DistributedDataParallel wraps, so the objective's own parameters (uncertainty
    weights, the InfoNCE temperature) are averaged over ranks like the model's."""

    def __init__(self, model: MultiOutputModel, objective: Objective) -> None:
        super().__init__()
        self.model, self.objective = model, objective

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        losses = self.objective.losses(self.model, batch)
        return {"losses": losses, "total": self.objective.total(losses)}


@dataclass
class _Run:
    """What one training run holds between steps, and what its checkpoint saves."""

    step: nn.Module  # the _Step, in DistributedDataParallel when distributed
    model: MultiOutputModel
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    precision: Precision
    rng: np.random.Generator
    history: History
    context: Context

    def state(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch,
            "model": self.model.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.precision.scaler.state_dict(),
            "history": dataclasses.asdict(self.history),
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": self.context.gather(torch.get_rng_state()),  # one per rank
            "cuda_rng": self.context.gather(_cuda_rng(self.context)),
        }

    def restore(self, state: dict[str, Any]) -> int:
        """Load a checkpoint's ``state``; returns the epochs it had done."""
        self.model.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.precision.scaler.load_state_dict(state["scaler"])
        self.history = History(**state["history"])
        self.rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"][self.context.rank])
        cuda_rng = state["cuda_rng"][self.context.rank]
        if cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng, self.context.device)
        epoch: int = state["epoch"]
        return epoch


def _cuda_rng(ctx: Context) -> torch.Tensor | None:
    return torch.cuda.get_rng_state(ctx.device) if ctx.device.type == "cuda" else None


def train(
    model: MultiOutputModel,
    objective: Objective,
    batches: Batches,
    config: TrainConfig,
    evaluate: Evaluate | None = None,
    desc: str = "train",
    runtime: Runtime | None = None,
    tower_lr: float | None = None,
) -> History:
    """Train ``model`` in place for ``config.epochs`` epochs and return its history;
    ``tower_lr`` is the learning rate of trained pretrained-tower parameters (see ``optim``)."""
    runtime = runtime or Runtime()
    ctx = runtime.context
    run, loader = _start(model, objective, batches, config, runtime, tower_lr)
    done = run.restore(runtime.checkpoints.load()) if runtime.resume and runtime.checkpoints else 0
    if done:
        log.info("%s: resumed after epoch %d of %d", desc, done, config.epochs)
    started = time.perf_counter() - (run.history.epochs[-1]["total_s"] if done else 0.0)
    for epoch in range(done + 1, config.epochs + 1):
        epoch_started = time.perf_counter()
        steps = loader.steps_per_epoch()
        sums = _run_epoch(run, loader.epoch(epoch, run.rng), steps, f"{desc} {epoch}")
        sums = ctx.mean(sums)  # every rank: the same losses, so the same loss weights
        run.history.steps += steps
        now = time.perf_counter()
        record = _epoch_record(epoch, sums, objective, now - epoch_started, now - started)
        objective.end_epoch({k[5:]: v for k, v in record.items() if k.startswith("loss/")})
        if evaluate is not None:  # rank 0 over the whole split, as one process would
            record.update(ctx.from_main(evaluate(model) if ctx.is_main else {}))
        run.history.epochs.append(record)
        log.info("%s epoch %d: %s", desc, epoch, _fmt(record))
        if runtime.checkpoints is not None:
            runtime.checkpoints.save(run.state(epoch))
    run.history.seconds = time.perf_counter() - started
    model.to("cpu")  # evaluated and exported on the CPU, like ONNX Runtime will run it
    model.eval()
    return run.history


def _start(
    model: MultiOutputModel,
    objective: Objective,
    batches: Batches,
    config: TrainConfig,
    runtime: Runtime,
    tower_lr: float | None,
) -> tuple[_Run, Loader]:
    """The run before its first step: the model on its device (wrapped for DDP), the
    optimizer and schedule, and the loader of this rank's batches."""
    ctx = runtime.context
    torch.set_num_threads(ctx.threads(config.threads))
    model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's overloads omit it
    step = wrap(_Step(model, objective), ctx)
    if ctx.distributed:  # the same initial weights everywhere (seeded before), own streams now
        torch.manual_seed(config.seed + ctx.rank)
    loader = Loader(batches, ctx, config.seed)
    groups = _param_groups(model, objective, config, tower_lr)
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    total_steps = config.epochs * loader.steps_per_epoch()
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _schedule(min(config.warmup_steps, total_steps // 4 + 1), total_steps)
    )
    run = _Run(
        step, model, objective, optimizer, scheduler, Precision(runtime.amp, ctx.device),
        np.random.default_rng(config.seed), History(), ctx,
    )  # fmt: skip
    return run, loader


def _run_epoch(
    run: _Run, batches: Iterator[dict[str, torch.Tensor]], steps: int, desc: str
) -> dict[str, float]:
    run.step.train()
    sums: dict[str, float] = {}
    count = 0
    bar = tqdm(batches, total=steps, desc=desc, mininterval=1.0, disable=not run.context.is_main)
    for batch in bar:
        with run.precision.autocast():
            out = run.step(batch)
        run.precision.step(out["total"], run.optimizer)
        run.scheduler.step()
        count += 1
        for name, value in out["losses"].items():
            sums[name] = sums.get(name, 0.0) + float(value.detach())
        bar.set_postfix(loss=f"{float(out['total'].detach()):.3f}", refresh=False)
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
