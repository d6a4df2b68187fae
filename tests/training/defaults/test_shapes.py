"""The shapes default builders, at the quick size: every model, manifest and report."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.manifest import read_manifest, verify_files
from training.cli import main
from training.defaults import DEFAULT_MODELS
from training.defaults.shapes import MODELS

EXPECTED = {
    "shapes-multitask": ("multitask", {"shape": 10, "color": 5}),
    "shapes-multitask-soft": ("multitask", {"shape": 10, "color": 5}),
    "shapes-fusion": ("fusion", {"answer": 17}),
    "shapes-vqa": ("fusion", {"answer": 10}),
    "shapes-align-image": ("alignment", {"embedding": 64}),
    "shapes-align-text": ("alignment", {"embedding": 64}),
}


def test_the_registry_lists_every_shapes_model() -> None:
    shapes = [m for m in DEFAULT_MODELS if m.builder == "training.defaults.shapes:build"]
    assert {name for m in shapes for name in m.names} == set(EXPECTED)
    # in the builder's order: the models that reuse the multi-task trunk come after it
    assert [m.name for m in shapes] == [f"shapes-{m.key}" for m in MODELS]


@pytest.mark.slow
def test_quick_build_writes_every_shapes_model(tmp_path: Path) -> None:
    only = ",".join(EXPECTED)
    assert main(["build-defaults", "--models-dir", str(tmp_path), "--quick", "--only", only]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(EXPECTED)
    for name, (kind, widths) in EXPECTED.items():
        version = tmp_path / name / "1"
        manifest = read_manifest(version)
        verify_files(manifest, version)
        assert manifest.kind == kind
        assert {o.name: o.shape[-1] for o in manifest.outputs} == widths
        assert manifest.metrics["split"] == "heldout"
        assert manifest.training["quick"] is True
        for figure in ("training_curves.png", "parity.png", "metrics.json"):
            assert (version / "report" / figure).is_file(), figure
        has_text = any(i.role == "text" for i in manifest.inputs)
        assert has_text == (version / "tokenizer.json").is_file()
        assert max(manifest.parity.values()) <= 1e-4
    spaces = {
        read_manifest(tmp_path / n / "1").outputs[0].space
        for n in EXPECTED
        if n.startswith("shapes-align")
    }
    assert spaces == {"shapes"}
    fusion = read_manifest(tmp_path / "shapes-fusion" / "1")
    assert [i.role for i in fusion.inputs] == ["image", "text", "attention_mask"]
