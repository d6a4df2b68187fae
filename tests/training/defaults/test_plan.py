"""Which default models ``build-defaults`` builds, into which version (training.defaults.plan)."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.manifest import ImageInput, Manifest, OutputSpec, sha256_file, write_manifest
from training.defaults import DefaultModel
from training.defaults.plan import plan
from training.versions import VersionTakenError

ONE = DefaultModel("one", "unused:build")
PAIR = DefaultModel("pair", "unused:build", ("pair-image", "pair-text"))


def _built(models_dir: Path, name: str, version: int) -> Path:
    """A version directory whose manifest matches its (fake) model file."""
    folder = models_dir / name / str(version)
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(f"{name} {version}".encode())
    manifest = Manifest(
        name=name,
        version=version,
        kind="encoder",
        created="2026-01-01T00:00:00+00:00",
        inputs=[ImageInput(name="image", shape=["batch", 3, 8, 8], size=(8, 8))],
        outputs=[OutputSpec(name="e", task="e", type="embedding", shape=["batch", 2], space="s")],
        sha256=sha256_file(folder / "model.onnx"),
    )
    write_manifest(manifest, folder)
    return folder


def _targets(models_dir: Path, models: list[DefaultModel], **kwargs: object) -> list[tuple]:
    return [(r.model.name, r.version, r.replace) for r in plan(models_dir, models, **kwargs)]


def test_nothing_built_builds_version_one_of_each(tmp_path: Path) -> None:
    assert _targets(tmp_path, [ONE, PAIR]) == [("one", 1, False), ("pair", 1, False)]
    (request,) = plan(tmp_path, [ONE], quick=True)
    assert request.quick and request.models_dir == tmp_path


def test_a_built_model_is_skipped_so_make_models_is_idempotent(tmp_path: Path) -> None:
    _built(tmp_path, "one", 1)
    _built(tmp_path, "one", 2)
    assert _targets(tmp_path, [ONE]) == []


def test_a_broken_latest_version_gets_a_new_version_beside_it(tmp_path: Path) -> None:
    _built(tmp_path, "one", 1)
    (tmp_path / "one" / "2").mkdir()  # empty: no manifest
    assert _targets(tmp_path, [ONE]) == [("one", 3, False)]
    assert (tmp_path / "one" / "2").is_dir()  # left for inspection


def test_force_rebuilds_the_latest_version_in_place(tmp_path: Path) -> None:
    _built(tmp_path, "one", 1)
    _built(tmp_path, "one", 2)
    assert _targets(tmp_path, [ONE], force=True) == [("one", 2, True)]
    assert _targets(tmp_path / "empty", [ONE], force=True) == [("one", 1, False)]


def test_an_explicit_version_is_built_skipped_or_refused(tmp_path: Path) -> None:
    _built(tmp_path, "one", 1)
    assert _targets(tmp_path, [ONE], version=1) == []
    assert _targets(tmp_path, [ONE], version=5) == [("one", 5, False)]
    assert _targets(tmp_path, [ONE], version=1, force=True) == [("one", 1, True)]
    (tmp_path / "one" / "1" / "manifest.json").unlink()
    with pytest.raises(VersionTakenError, match="--force"):
        plan(tmp_path, [ONE], version=1)


def test_the_two_towers_of_one_model_share_their_version(tmp_path: Path) -> None:
    _built(tmp_path, "pair-image", 1)
    _built(tmp_path, "pair-text", 1)
    assert _targets(tmp_path, [PAIR]) == []
    (tmp_path / "pair-text" / "1" / "model.onnx").write_bytes(b"corrupt")
    assert _targets(tmp_path, [PAIR]) == [("pair", 2, False)]
    _built(tmp_path, "pair-image", 2)
    assert _targets(tmp_path, [PAIR], force=True) == [("pair", 2, True)]
