"""``python -m training build-defaults``: skips what is built, adds versions, --force in place."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from contract.manifest import ImageInput, Manifest, OutputSpec, read_manifest
from training import cli
from training.defaults import BuildRequest, DefaultModel
from training.export import export_model

BUILDS: list[BuildRequest] = []


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 2)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"e": nn.functional.normalize(self.head(image.mean((2, 3))), dim=-1)}  # (B, 2)


def build_tiny(request: BuildRequest) -> list[Manifest]:
    """A real (tiny) export, counted, so each test sees what was built and into which version."""
    BUILDS.append(request)
    return [
        export_model(
            _Tiny(),
            {"image": torch.randn(2, 3, 8, 8)},
            models_dir=request.models_dir,
            name=request.model.name,
            version=request.version,
            replace=request.replace,
            kind="encoder",
            inputs=[ImageInput(name="image", shape=["batch", 3, 8, 8], size=(8, 8))],
            outputs=[
                OutputSpec(name="e", task="e", type="embedding", shape=["batch", 2], space="s")
            ],
            metrics={"build": len(BUILDS)},
        )
    ]


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    BUILDS.clear()
    tiny = DefaultModel("tiny", f"{__name__}:build_tiny")
    monkeypatch.setattr(cli, "DEFAULT_MODELS", (tiny,))
    return tmp_path


def _build(models_dir: Path, *args: str) -> list[str]:
    assert cli.main(["build-defaults", "--models-dir", str(models_dir), *args]) == 0
    return sorted(p.name for p in (models_dir / "tiny").iterdir())


def test_make_models_twice_builds_once(models_dir: Path) -> None:
    assert _build(models_dir) == ["1"]
    assert _build(models_dir) == ["1"]
    assert len(BUILDS) == 1


def test_force_rebuilds_the_latest_version_in_place(models_dir: Path) -> None:
    _build(models_dir)
    assert _build(models_dir, "--force") == ["1"]
    assert _build(models_dir, "--force") == ["1"]
    assert read_manifest(models_dir / "tiny" / "1").metrics == {"build": 3}


def test_a_broken_version_is_kept_and_the_next_one_built(models_dir: Path) -> None:
    _build(models_dir)
    (models_dir / "tiny" / "1" / "manifest.json").unlink()
    assert _build(models_dir) == ["1", "2"]
    assert read_manifest(models_dir / "tiny" / "2").metrics == {"build": 2}
    with pytest.raises(SystemExit, match="--force"):
        _build(models_dir, "--version", "1")
    assert _build(models_dir, "--version", "1", "--force") == ["1", "2"]
    assert read_manifest(models_dir / "tiny" / "1").version == 1


def test_unknown_names_are_refused(models_dir: Path) -> None:
    with pytest.raises(SystemExit, match="unknown default model"):
        _build(models_dir, "--only", "nope")
