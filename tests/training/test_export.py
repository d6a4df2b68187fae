"""The exporter: check and compare before writing; dynamic axes really dynamic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from contract.layout import version_dir
from contract.manifest import (
    ImageInput,
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
