"""The shapes default builders, at the quick size: every model, manifest and report."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.manifest import read_manifest, verify_files
from training.defaults import DEFAULT_GROUPS
from training.defaults.shapes import build

EXPECTED = {
    "shapes-multitask": ("multitask", {"shape": 10, "color": 5}),
    "shapes-multitask-soft": ("multitask", {"shape": 10, "color": 5}),
    "shapes-fusion": ("fusion", {"answer": 17}),
    "shapes-vqa": ("fusion", {"answer": 10}),
    "shapes-align-image": ("alignment", {"embedding": 64}),
    "shapes-align-text": ("alignment", {"embedding": 64}),
}


def test_the_registry_lists_every_shapes_model() -> None:
    group = next(g for g in DEFAULT_GROUPS if g.builder == "training.defaults.shapes:build")
    assert set(group.models) == set(EXPECTED)


@pytest.mark.slow
def test_quick_build_writes_every_shapes_model(tmp_path: Path) -> None:
    manifests = build(tmp_path, quick=True)
    assert sorted(m.name for m in manifests) == sorted(EXPECTED)
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
