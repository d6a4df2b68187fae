"""``fit`` under torchrun (2 CPU processes, gloo), checkpoints, ``--resume`` and ``--amp``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from contract.manifest import read_manifest, verify_files
from training.checkpoints import CHECKPOINT_FILE
from training.cli import main
from training.errors import FitInputError
from training.precision import Precision
from training.shapes.datasets import ShapesSpec, load
from training.shapes.jsonl import write_jsonl

ROOT = Path(__file__).resolve().parents[2]

# Tiny on purpose: 2 colours-and-shapes heads on 32-pixel images, a few seconds per run.
TINY = {
    "method": "hard_sharing",
    "tasks": ["color", "size"],
    "image": {"image_size": 32, "widths": [8, 16]},
    "train": {"epochs": 4, "batch_size": 32, "lr": 0.01, "warmup_steps": 5, "threads": 2},
}


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(JSONL data, config file) of a tiny shapes run."""
    root = tmp_path_factory.mktemp("shapes")
    config = root / "tiny.json"
    config.write_text(json.dumps(TINY), encoding="utf-8")
    examples = load(ShapesSpec("objects", "train", 640, 32, 0))
    return write_jsonl(examples, root / "data", number_texts=True), config


def _args(data: Path, config: Path, models: Path, *extra: str) -> list[str]:
    return [
        "fit", "--config", str(config), "--data", str(data), "--models-dir", str(models),
        "--name", "tiny", *extra,
    ]  # fmt: skip


def _metrics(models: Path) -> dict[str, float]:
    metrics = read_manifest(models / "tiny" / "1").metrics
    return {task: metrics[f"{task}_accuracy"] for task in TINY["tasks"]}


@pytest.mark.slow
def test_two_processes_train_export_once_and_match_one_process(
    shapes: tuple[Path, Path], tmp_path: Path
) -> None:
    data, config = shapes
    assert main(_args(data, config, tmp_path / "one")) == 0
    one = _metrics(tmp_path / "one")

    models, logs = tmp_path / "two", tmp_path / "logs"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", "--log-dir", str(logs), "--redirects", "3"]
    command += ["-m", "training", *_args(data, config, models)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    # Exported once, by rank 0: one version, complete; the run dir holds only the checkpoint.
    assert [p.name for p in (models / "tiny").iterdir()] == ["1"]
    manifest = read_manifest(models / "tiny" / "1")
    verify_files(manifest, models / "tiny" / "1")
    assert manifest.training["processes"] == 2
    assert [p.name for p in (tmp_path / "runs" / "tiny").iterdir()] == [CHECKPOINT_FILE]
    # Rank 1 trained (it joined the group: rank 0's log says so) but logged nothing.
    (rank0,) = logs.glob("**/0/stderr.log")
    (rank1,) = logs.glob("**/1/stderr.log")
    assert "rank 0 of 2 on cpu (gloo)" in rank0.read_text()
    assert "tiny epoch 4" in rank0.read_text()
    assert " INFO " not in rank1.read_text()

    # It learned, and lands within noise of one process (same global batch, other shuffles):
    # 128 held-out examples, so one standard error of an accuracy near 0.8 is about 0.035.
    two = _metrics(models)
    baseline = manifest.metrics
    for task, accuracy in two.items():
        assert accuracy > baseline[f"{task}_majority_baseline_accuracy"] + 0.2, (task, two)
        assert abs(accuracy - one[task]) <= 0.12, (task, one, two)


def _interrupt_after(epochs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the run die right after writing its checkpoint of epoch ``epochs``."""
    from training.checkpoints import Checkpoints

    save = Checkpoints.save

    def save_then_die(self: Checkpoints, state: dict[str, object]) -> None:
        save(self, state)
        if state["epoch"] == epochs:
            raise KeyboardInterrupt("killed")

    monkeypatch.setattr(Checkpoints, "save", save_then_die)


@pytest.mark.slow
def test_resume_after_two_epochs_ends_where_four_straight_do(
    shapes: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, config = shapes
    assert main(_args(data, config, tmp_path / "straight" / "models")) == 0
    straight = read_manifest(tmp_path / "straight" / "models" / "tiny" / "1")

    models = tmp_path / "resumed" / "models"
    with monkeypatch.context() as patch:
        _interrupt_after(2, patch)
        with pytest.raises(KeyboardInterrupt):
            main(_args(data, config, models))
    assert not (models / "tiny").exists()  # nothing exported by the interrupted run
    checkpoint = torch.load(models.parent / "runs" / "tiny" / CHECKPOINT_FILE, weights_only=True)
    assert checkpoint["epoch"] == 2

    assert main([*_args(data, config, models), "--resume"]) == 0
    resumed = read_manifest(models / "tiny" / "1")
    for key, value in straight.metrics.items():
        if isinstance(value, float):
            assert resumed.metrics[key] == pytest.approx(value, abs=1e-6), key
    assert resumed.training["train_steps"] == straight.training["train_steps"]
    # The same path, step for step: per-epoch losses and the final weights.
    ends = [
        torch.load(root / "runs" / "tiny" / CHECKPOINT_FILE, weights_only=True)
        for root in (tmp_path / "straight", tmp_path / "resumed")
    ]
    assert ends[0]["epoch"] == ends[1]["epoch"] == 4
    losses = [[e["loss/color"] for e in end["history"]["epochs"]] for end in ends]
    assert losses[1] == pytest.approx(losses[0], abs=1e-6)
    for name, weight in ends[0]["model"].items():
        torch.testing.assert_close(ends[1]["model"][name], weight, atol=1e-5, rtol=1e-4)


def test_resume_refuses_another_config_and_a_missing_checkpoint(
    shapes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, config = shapes
    models = tmp_path / "models"
    assert main([*_args(data, config, models), "--resume"]) == 2
    err = capsys.readouterr().err
    path = tmp_path / "runs" / "tiny" / CHECKPOINT_FILE
    assert err.startswith(f"error: {path}: no checkpoint to resume from") and err.count("\n") == 1

    assert main([*_args(data, config, models), "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main([*_args(data, config, models), "--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: {path}: --resume refused: the checkpoint is of a different run "
        "(config.train.epochs: 1 -> 2); resume with the same config, data and process count, "
        "or drop --resume to start over\n"
    )
    assert [p.name for p in (models / "tiny").iterdir()] == ["1"]  # nothing trained


def test_amp_on_cpu_trains_in_bfloat16_and_exports_float32(
    shapes: tuple[Path, Path], tmp_path: Path
) -> None:
    precision = Precision(True, torch.device("cpu"))
    with precision.autocast():
        assert torch.nn.Linear(4, 2)(torch.ones(1, 4)).dtype == torch.bfloat16
    data, config = shapes
    models = tmp_path / "models"
    assert main([*_args(data, config, models), "--epochs", "1", "--amp"]) == 0
    manifest = read_manifest(models / "tiny" / "1")
    verify_files(manifest, models / "tiny" / "1")
    assert manifest.training["amp"] is True
    checkpoint = torch.load(tmp_path / "runs" / "tiny" / CHECKPOINT_FILE, weights_only=True)
    assert all(w.dtype != torch.bfloat16 for w in checkpoint["model"].values())  # float32 kept


def test_each_rank_takes_its_own_share_of_every_epoch_in_global_batch_halves() -> None:
    from training.distributed import Context, Loader
    from training.methods.data import Batches, Examples, Normalisation

    n = 103
    images = np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(3, axis=3)  # pixel = index
    examples = Examples("train", images, None, {"t": np.zeros(n, np.int64)}, {"t": ["a", "b"]})
    batches = Batches(examples, 16, Normalisation(0.0, 1.0))

    def seen(rank: int, epoch: int) -> list[int]:
        loader = Loader(batches, Context(rank=rank, world_size=2), seed=0)
        assert loader.steps_per_epoch() == 51 // 8  # 51 examples per rank, batches of 16 / 2
        rng = np.random.default_rng(0)  # unused by a distributed loader: the sampler shuffles
        out = [b["image"][:, 0, 0, 0].int().tolist() for b in loader.epoch(epoch, rng)]
        assert [len(b) for b in out] == [8] * 6
        return [i for b in out for i in b]

    for epoch in (1, 2):
        zero, one = seen(0, epoch), seen(1, epoch)
        assert not set(zero) & set(one)  # disjoint shares
        assert seen(0, epoch) == zero  # the same order on a rerun (seeded)
    assert seen(0, 1) != seen(0, 2)  # set_epoch reshuffles
    with pytest.raises(FitInputError, match="must divide by the 3 processes"):
        Loader(batches, Context(rank=0, world_size=3), seed=0)
    assert Context(local_world_size=2).threads(2) == 1 and Context().threads(2) == 2
