"""A checkpoint after every epoch, and ``fit --resume`` from the last one.

The checkpoint (``<run dir>/checkpoint.pt``) holds everything the next epoch depends on: the
model, the optimizer, the learning-rate schedule, the objective (learnable loss weights, DWA's
loss history), the gradient scaler, the epochs done with their history, and the random states
(numpy's shuffle generator, torch's generator of every rank). Resuming an interrupted run
therefore continues it exactly: 2 epochs then ``--resume`` to 4 ends where 4 straight do.

A checkpoint belongs to one run: it records the run's identity (the config, the data file, the
number of processes) and its hash, and ``--resume`` with anything else is refused with a
one-line error naming the first difference. Rank 0 alone reads and writes the file (written to
a temporary name, then renamed: a crash mid-write leaves the previous checkpoint whole) and
broadcasts what it read, so the run directory need only exist on rank 0's machine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.distributed import Context
from training.errors import FitInputError

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"


def identity(config: dict[str, Any], data: Path, processes: int) -> dict[str, Any]:
    """What must be equal for a checkpoint to continue this run."""
    return {"config": config, "data": str(data.resolve()), "processes": processes}


def _hash(ident: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def first_difference(saved: dict[str, Any], current: dict[str, Any]) -> str:
    """``"train.epochs: 4 -> 6"``: the first key whose value differs (saved -> now)."""
    a, b = _flat(saved), _flat(current)
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            return f"{key}: {a.get(key)!r} -> {b.get(key)!r}"
    return "none"


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoint file of one run, written and read by rank 0 of ``context``."""

    directory: Path
    identity: dict[str, Any]
    context: Context

    @property
    def path(self) -> Path:
        return self.directory / CHECKPOINT_FILE

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` atomically (rank 0 only; the other ranks return at once)."""
        if not self.context.is_main:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{CHECKPOINT_FILE}.{os.getpid()}.tmp")
        payload = {"identity": self.identity, "config_hash": _hash(self.identity), **state}
        torch.save(payload, temporary)
        os.replace(temporary, self.path)  # atomic on POSIX: the old file or the new, whole
        log.debug("checkpoint: %s (epoch %s)", self.path, state.get("epoch"))

    def load(self) -> dict[str, Any]:
        """The saved state on every rank; a ``FitInputError`` on every rank when there is none
        or it belongs to another run."""
        outcome: tuple[str, Any] = ("", None)
        if self.context.is_main:
            try:
                outcome = ("ok", self._read())
            except FitInputError as exc:
                outcome = ("error", exc.message)
        kind, value = self.context.from_main(outcome)
        if kind == "error":
            raise FitInputError(value, self.path)
        state: dict[str, Any] = value
        return state

    def _read(self) -> dict[str, Any]:
        if not self.path.is_file():
            raise FitInputError(
                "no checkpoint to resume from: run without --resume first (or give the "
                "--run-dir of the run to continue)"
            )
        state: dict[str, Any] = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("config_hash") != _hash(self.identity):
            change = first_difference(state.get("identity", {}), self.identity)
            raise FitInputError(
                f"--resume refused: the checkpoint is of a different run ({change}); "
                "resume with the same config, data and process count, or drop --resume to "
                "start over"
            )
        return state
