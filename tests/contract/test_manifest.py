"""The model repository contract: strict, self-consistent, checksummed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from contract.manifest import Manifest, sha256_file, verify_files, write_manifest

BASE = {
    "name": "m",
    "version": 1,
    "kind": "multitask",
    "created": "2026-01-01T00:00:00+00:00",
    "inputs": [{"role": "image", "name": "image", "shape": ["batch", 3, 8, 8], "size": [8, 8]}],
    "outputs": [
        {"name": "c", "task": "c", "type": "softmax", "shape": ["batch", 2], "labels": ["x", "y"]}
    ],
    "sha256": "0" * 64,
}


def _with(**changes: object) -> dict[str, object]:
    return {**BASE, **changes}


def test_valid_manifest_parses_and_reports_modalities() -> None:
    manifest = Manifest.model_validate(BASE)
    assert manifest.modalities == {"image"}
    assert manifest.output("c").labels == ["x", "y"]


@pytest.mark.parametrize(
    "bad",
    [
        _with(surprise=1),  # unknown field
        _with(version=0),
        _with(outputs=[{"name": "c", "task": "c", "type": "softmax", "shape": [2]}]),  # no labels
        _with(outputs=[{"name": "e", "task": "e", "type": "embedding", "shape": [2]}]),  # no space
        _with(inputs=[{"role": "attention_mask", "name": "m", "shape": [1]}]),  # no text input
        _with(inputs=[{"role": "audio", "name": "a", "shape": [1]}]),  # unknown modality
    ],
)
def test_invalid_manifests_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Manifest.model_validate(bad)


def test_verify_files_catches_a_changed_model(tmp_path: Path) -> None:
    version_dir = tmp_path / "m" / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "model.onnx").write_bytes(b"graph")
    manifest = Manifest.model_validate(_with(sha256=sha256_file(version_dir / "model.onnx")))
    write_manifest(manifest, version_dir)
    verify_files(manifest, version_dir)
    (version_dir / "model.onnx").write_bytes(b"other graph")
    with pytest.raises(ValueError, match="sha256"):
        verify_files(manifest, version_dir)


def _variant(**changes: object) -> dict[str, object]:
    return {"precision": "int8", "file": "model.int8.onnx", "sha256": "1" * 64, **changes}


def test_a_manifest_without_variants_reads_as_fp32_only() -> None:
    """Manifests written before variants existed keep loading, unchanged in meaning."""
    manifest = Manifest.model_validate(BASE)
    assert manifest.precision == "fp32"
    assert manifest.variants == []
    assert manifest.precisions == ["fp32"]
    assert manifest.model_file("fp32") == "model.onnx"
    with pytest.raises(KeyError, match="no int8 variant"):
        manifest.model_file("int8")


def test_an_int8_variant_names_its_file() -> None:
    manifest = Manifest.model_validate(_with(variants=[_variant()]))
    assert manifest.precisions == ["fp32", "int8"]
    assert manifest.model_file("int8") == "model.int8.onnx"
    assert manifest.variant("int8") is not None


@pytest.mark.parametrize(
    "variants",
    [
        [_variant(file="other.onnx")],  # the file name is fixed by the precision
        [_variant(precision="int4")],  # unknown precision
        [_variant(sha256="xyz")],
        [_variant(), _variant()],  # two int8 variants
        [_variant(surprise=1)],
    ],
)
def test_invalid_variants_are_rejected(variants: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        Manifest.model_validate(_with(variants=variants))


def test_verify_files_checks_every_variant(tmp_path: Path) -> None:
    version_dir = tmp_path / "m" / "1"
    version_dir.mkdir(parents=True)
    (version_dir / "model.onnx").write_bytes(b"graph")
    (version_dir / "model.int8.onnx").write_bytes(b"int8 graph")
    manifest = Manifest.model_validate(
        _with(
            sha256=sha256_file(version_dir / "model.onnx"),
            variants=[_variant(sha256=sha256_file(version_dir / "model.int8.onnx"))],
        )
    )
    verify_files(manifest, version_dir)
    (version_dir / "model.int8.onnx").write_bytes(b"changed")
    with pytest.raises(ValueError, match=r"model\.int8\.onnx has sha256"):
        verify_files(manifest, version_dir)
    (version_dir / "model.int8.onnx").unlink()
    with pytest.raises(ValueError, match=r"model\.int8\.onnx is missing"):
        verify_files(manifest, version_dir)
