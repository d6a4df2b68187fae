"""Data-parallel training under ``torchrun``: the same ``fit`` command, one process per rank.

``python -m training fit ...`` runs alone; ``torchrun --nproc_per_node N -m training fit ...``
runs it N times, and torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) is how a process learns it is one of several. Then:

* the process group uses NCCL when CUDA is there (one GPU per local rank), gloo on CPU;
* the model (with its objective, whose loss parameters learn too) is wrapped in
  ``DistributedDataParallel``, so gradients are averaged over ranks at every step;
* each rank reads its own share of every epoch from a ``DistributedSampler`` (``set_epoch``
  reshuffles per epoch, the same way on every rank), in batches of ``batch_size / world_size``:
  the config's ``batch_size`` stays the global batch, so the steps, the learning-rate schedule
  and the averaged gradient have the 1-process meaning;
* the per-epoch training losses are averaged over ranks (all-reduce), so adaptive loss
  weighting (DWA) sees the same numbers and takes the same decisions on every rank;
* evaluation runs on rank 0 over the whole held-out split and is broadcast to the others: the
  same examples, batches and code as one process, hence the same metrics;
* only rank 0 logs, writes checkpoints, the report and the export.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from training.errors import FitInputError
from training.methods.data import Batches

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Where this process stands: its rank among ``world_size`` and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1  # processes on this machine
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    def threads(self, configured: int) -> int:
        """This process's share of the config's CPU threads: the ranks on one machine split
        them, rather than each taking all and oversubscribing the cores."""
        return max(configured // self.local_world_size, 1)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """``values`` averaged over ranks (every rank must pass the same keys)."""
        if not self.distributed or not values:
            return values
        keys = list(values)  # the same order on every rank: the same code made them
        tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return {k: float(v) / self.world_size for k, v in zip(keys, tensor.tolist(), strict=True)}

    def from_main(self, value: T) -> T:
        """Rank 0's ``value`` on every rank (picklable objects)."""
        if not self.distributed:
            return value
        box: list[Any] = [value]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]  # type: ignore[no-any-return]

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value``, in rank order, on every rank."""
        if not self.distributed:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def _object_device(self) -> torch.device | None:
        return self.device if self.device.type == "cuda" else None


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def context_from_env() -> Context:
    """The context torchrun's variables describe (one CPU process when they are absent)."""
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if torch.cuda.is_available():
        device = torch.device("cuda", local % torch.cuda.device_count())
    else:
        device = torch.device("cpu")
    local_world = _env_int("LOCAL_WORLD_SIZE", 1)
    return Context(rank, world, local, local_world, device)


@contextmanager
def session() -> Iterator[Context]:
    """Join the process group torchrun set up (if any) and leave it cleanly.

    On the way out every rank waits at a barrier (rank 0 may still be exporting) before the
    group is destroyed; on an exception the group is destroyed without the barrier, so the
    failing rank exits and torchrun stops the others.
    """
    ctx = context_from_env()
    if not ctx.distributed:
        yield ctx
        return
    if ctx.device.type == "cuda":
        torch.cuda.set_device(ctx.device)
    backend = "nccl" if ctx.device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=ctx.rank, world_size=ctx.world_size)
    if not ctx.is_main:  # one voice: warnings and errors still show from every rank
        logging.getLogger().setLevel(logging.WARNING)
    log.info("rank %d of %d on %s (%s)", ctx.rank, ctx.world_size, ctx.device, backend)
    try:
        yield ctx
        dist.barrier()
    finally:
        dist.destroy_process_group()


def wrap(module: nn.Module, ctx: Context) -> nn.Module:
    """``module`` on the context's device, inside DistributedDataParallel when distributed."""
    module.to(ctx.device)
    if not ctx.distributed:
        return module
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    # static_graph: the same parameters take part in every step, but not always all of them
    # (a fusion ablation zeroes a modality, so its encoder gets no gradient); DDP learns which
    # in the first step, where it would otherwise wait for those gradients forever.
    return DistributedDataParallel(module, device_ids=ids, static_graph=True)


class Loader:
    """The batches one rank trains on in each epoch.

    One process: ``Batches.epoch(rng)``, the shuffle the project has always used. Several:
    this rank's share from a ``DistributedSampler`` (seeded by the run's seed, reshuffled by
    ``set_epoch``; ``drop_last`` so every rank takes the same number of steps, which DDP needs).
    """

    def __init__(self, batches: Batches, ctx: Context, seed: int) -> None:
        self.ctx = ctx
        self.sampler: DistributedSampler[int] | None = None
        self.batches = batches
        if ctx.distributed:
            size = batches.batch_size
            if size % ctx.world_size:
                raise FitInputError(
                    f"train.batch_size {size} is the global batch: it must divide by the "
                    f"{ctx.world_size} processes (each takes batch_size / processes)"
                )
            self.batches = Batches(
                batches.examples, size // ctx.world_size, batches.norm, batches.tokens
            )
            self.sampler = DistributedSampler(
                range(len(batches.examples)),  # type: ignore[arg-type]  # any Sized will do
                num_replicas=ctx.world_size,
                rank=ctx.rank,
                shuffle=True,
                seed=seed,
                drop_last=True,
            )

    def steps_per_epoch(self) -> int:
        if self.sampler is None:
            return self.batches.steps_per_epoch()
        return max(len(self.sampler) // self.batches.batch_size, 1)

    def epoch(self, epoch: int, rng: np.random.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """The batches of ``epoch`` (1-based), tensors on the context's device."""
        if self.sampler is None:
            batches = self.batches.epoch(rng)
        else:
            self.sampler.set_epoch(epoch)
            batches = self.batches.epoch(order=np.fromiter(iter(self.sampler), dtype=np.int64))
        for batch in batches:
            yield {k: v.to(self.ctx.device, non_blocking=True) for k, v in batch.items()}
