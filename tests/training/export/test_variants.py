"""Lower-precision variants: installed only when their gate passes, recorded either way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from contract.layout import version_dir
from contract.manifest import read_manifest, verify_files
from tests.service.tiny_models import build_int8_repository, int8_variant
from tests.training.export.test_exporter import INPUTS, OUTPUTS, Tiny
from training.export import export_model
from training.export.variants import Candidate, keep_passing

CALIBRATION = np.random.default_rng(0).normal(size=(8, 3, 8, 8)).astype(np.float32)


def _export(root: Path, hook: object) -> Path:
    torch.manual_seed(0)
    export_model(
        Tiny(), {"image": torch.randn(2, 3, 8, 8)}, models_dir=root, name="tiny",
        kind="multitask", inputs=INPUTS, outputs=OUTPUTS, variants=hook,  # type: ignore[arg-type]
    )  # fmt: skip
    return version_dir(root, "tiny", 1)


def test_a_variant_that_passes_is_installed_and_checksummed(tmp_path: Path) -> None:
    folder = _export(tmp_path, int8_variant(CALIBRATION))
    manifest = read_manifest(folder)
    assert [v.precision for v in manifest.variants] == ["int8"]
    assert (folder / "model.int8.onnx").is_file()
    verify_files(manifest, folder)  # the checksum covers the variant too
    gate = manifest.metrics["int8_gate"]
    assert gate["passed"] is True and gate["failures"] == []
    assert gate["bytes"] == (folder / "model.int8.onnx").stat().st_size
    assert manifest.variants[0].method["weights"] == "int8 per channel"


def test_a_variant_that_fails_its_gate_is_not_installed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = _export(tmp_path, int8_variant(CALIBRATION, failed=("top-1 agreement 0.90 < 0.95",)))
    manifest = read_manifest(folder)
    assert manifest.variants == []
    assert not (folder / "model.int8.onnx").exists()
    assert manifest.metrics["int8_gate"]["passed"] is False
    assert manifest.metrics["int8_gate"]["failures"] == ["top-1 agreement 0.90 < 0.95"]
    assert "failed its gate, not installed: top-1 agreement 0.90 < 0.95" in caplog.text


def test_a_skipped_variant_says_why(tmp_path: Path) -> None:
    reason = "the foolbox wheel is not installed"
    candidates = [Candidate("int8", "model.int8.onnx", skipped=reason)]
    installed, metrics = keep_passing("m", tmp_path, candidates)
    assert installed == []
    assert metrics["int8_gate"] == {
        "passed": False, "failures": [], "skipped": reason, "build_seconds": 0.0
    }  # fmt: skip


def test_the_int8_file_is_really_quantized_and_close_to_fp32(tmp_path: Path) -> None:
    folder = version_dir(build_int8_repository(tmp_path), "vision", 1)
    ops = {node.op_type for node in onnx.load(str(folder / "model.int8.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    image = np.random.default_rng(1).normal(size=(4, 3, 32, 32)).astype(np.float32)
    runs = [
        ort.InferenceSession(str(folder / f), providers=["CPUExecutionProvider"]).run(
            ["embedding"], {"image": image}
        )[0]
        for f in ("model.onnx", "model.int8.onnx")
    ]
    cosine = np.sum(runs[0] * runs[1], axis=1)
    assert cosine.min() > 0.95
