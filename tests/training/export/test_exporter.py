"""The exporter: check and compare before writing; dynamic axes really dynamic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from contract import layout
from contract.layout import version_dir
from contract.manifest import (
    ImageInput,
    Manifest,
    OutputSpec,
    TextInput,
    read_manifest,
    verify_files,
)
from training.export import ExportError, export_model

INPUTS = [ImageInput(name="image", shape=["batch", 3, 8, 8], size=(8, 8))]
OUTPUTS = [
    OutputSpec(name="cls", task="cls", type="softmax", shape=["batch", 3], labels=["a", "b", "c"]),
    OutputSpec(name="emb", task="emb", type="embedding", shape=["batch", 4], space="s"),
]


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 3)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.conv(image).mean((2, 3))  # (B, 4)
        return {"cls": self.head(z).softmax(-1), "emb": z}


class Drifting(Tiny):
    """Differs between the traced run and later runs: the comparison must catch it."""

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out = super().forward(image)
        return {"cls": out["cls"], "emb": out["emb"] + float(torch.rand(()))}


def _export(model: nn.Module, models_dir: Path, batch: int = 2) -> object:
    return export_model(
        model,
        {"image": torch.randn(batch, 3, 8, 8)},
        models_dir=models_dir,
        name="tiny",
        kind="multitask",
        inputs=INPUTS,
        outputs=OUTPUTS,
        check_example={"image": torch.randn(5, 3, 8, 8)},
    )


def test_export_writes_verified_repository_entry(tmp_path: Path) -> None:
    manifest = _export(Tiny(), tmp_path)
    target = version_dir(tmp_path, "tiny", 1)
    assert read_manifest(target) == manifest
    verify_files(read_manifest(target), target)
    assert set(read_manifest(target).parity) == {"cls", "emb"}
    assert max(read_manifest(target).parity.values()) <= 1e-4


def test_exported_batch_axis_is_dynamic(tmp_path: Path) -> None:
    _export(Tiny(), tmp_path)
    session = ort.InferenceSession(str(version_dir(tmp_path, "tiny", 1) / "model.onnx"))
    for batch in (1, 7):
        (cls,) = session.run(["cls"], {"image": np.zeros((batch, 3, 8, 8), np.float32)})
        assert cls.shape == (batch, 3)


def test_disagreement_with_pytorch_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="differs from PyTorch"):
        _export(Drifting(), tmp_path)
    assert not (tmp_path / "tiny").exists() or not any((tmp_path / "tiny").iterdir())


def test_example_batch_of_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="batch 1"):
        _export(Tiny(), tmp_path, batch=1)


class Bag(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.EmbeddingBag(10, 3)

    def forward(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"cls": self.embed(input_ids).softmax(-1)}  # (B, 3)


def test_text_model_without_its_tokenizer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="tokenizer"):
        export_model(
            Bag(),
            {"input_ids": torch.randint(0, 10, (2, 4))},
            models_dir=tmp_path,
            name="bag",
            kind="classifier",
            inputs=[TextInput(name="input_ids", shape=["batch", "seq"], max_length=8)],
            outputs=[OUTPUTS[0]],
        )
    assert not version_dir(tmp_path, "bag", 1).exists()
    assert not list((tmp_path / "bag").glob(".*"))  # no staging leftovers


def _export_with(models_dir: Path, **kwargs: Any) -> Manifest:
    return export_model(
        Tiny(),
        {"image": torch.randn(2, 3, 8, 8)},
        models_dir=models_dir,
        name="tiny",
        kind="multitask",
        inputs=INPUTS,
        outputs=OUTPUTS,
        **kwargs,
    )


def test_hooks_run_on_the_staged_directory_before_it_is_installed(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def evaluate(staged: Path) -> dict[str, object]:
        seen["evaluated_in"] = staged
        seen["installed_then"] = (tmp_path / "tiny" / "1").exists()
        seen["staged_files"] = sorted(p.name for p in staged.iterdir())
        session = ort.InferenceSession(str(staged / "model.onnx"))
        (cls,) = session.run(["cls"], {"image": np.zeros((4, 3, 8, 8), np.float32)})
        return {"rows": int(cls.shape[0])}

    def report(staged: Path, manifest: Manifest) -> None:
        seen["reported_in"] = staged
        seen["report_metrics"] = manifest.metrics
        assert read_manifest(staged) == manifest  # the manifest is written before the report
        (staged / "report").mkdir()
        (staged / "report" / "note.txt").write_text("ok")

    manifest = _export_with(tmp_path, metrics={"given": 1}, evaluate=evaluate, report=report)
    staged = seen["evaluated_in"]
    assert isinstance(staged, Path) and staged.parent == tmp_path / "tiny"
    assert layout.is_staging_name(staged.name) and not layout.is_version_name(staged.name)
    assert seen["reported_in"] == staged and seen["installed_then"] is False
    assert seen["staged_files"] == ["model.onnx"]
    assert manifest.metrics == {"given": 1, "rows": 4} == seen["report_metrics"]
    target = tmp_path / "tiny" / "1"
    assert read_manifest(target) == manifest
    verify_files(manifest, target)
    assert (target / "report" / "note.txt").read_text() == "ok"
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1"]  # no staging left


def test_a_failing_hook_installs_nothing(tmp_path: Path) -> None:
    def evaluate(staged: Path) -> dict[str, object]:
        raise RuntimeError("evaluation broke")

    def report(staged: Path, manifest: Manifest) -> None:
        raise RuntimeError("report broke")

    with pytest.raises(RuntimeError, match="evaluation broke"):
        _export_with(tmp_path, evaluate=evaluate)
    with pytest.raises(RuntimeError, match="report broke"):
        _export_with(tmp_path, report=report)
    assert list((tmp_path / "tiny").iterdir()) == []


def test_versions_are_added_not_written_over(tmp_path: Path) -> None:
    first = _export_with(tmp_path)
    second = _export_with(tmp_path)
    assert (first.version, second.version) == (1, 2)
    assert read_manifest(tmp_path / "tiny" / "1") == first
    with pytest.raises(ExportError, match="already exists"):
        _export_with(tmp_path, version=1)
    assert read_manifest(tmp_path / "tiny" / "1") == first
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1", "2"]


def test_replace_writes_over_a_version_in_place(tmp_path: Path) -> None:
    first = _export_with(tmp_path)
    (tmp_path / "tiny" / "1" / "stale.txt").write_text("from the old version")
    again = _export_with(tmp_path, version=1, replace=True)
    assert again.version == 1 and again.sha256 != first.sha256  # a new random model
    assert read_manifest(tmp_path / "tiny" / "1") == again
    assert not (tmp_path / "tiny" / "1" / "stale.txt").exists()  # replaced whole, not merged
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1"]
