"""The registry without HTTP: discovery, checksum and file checks, providers, GPU policy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from contract.manifest import MANIFEST_FILE
from service.errors import ModelNotFoundError, NotReadyError
from service.inference.registry import ModelState, Registry, RegistryConfig
from service.inference.session import SessionConfig


def _copy(repo: Path, tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "repo"
    for name in names:
        shutil.copytree(repo / name, root / name)
    return root


def _load_all(root: Path, **config: object) -> Registry:
    registry = Registry(RegistryConfig(model_dir=root, session=SessionConfig(providers="cpu"),
                                       **config))  # type: ignore[arg-type]  # fmt: skip
    for entry in registry.discover():
        registry.load(entry.name)
    return registry


def test_loads_every_model_and_reports_the_cpu_provider(model_repo: Path) -> None:
    registry = _load_all(model_repo)
    assert [e.name for e in registry.entries()] == ["fusion", "text", "vision"]
    assert registry.all_ready
    for entry in registry.entries():
        assert entry.state is ModelState.READY and entry.reason is None
        assert entry.providers == ["CPUExecutionProvider"]
        assert entry.load_seconds is not None and entry.load_seconds > 0
    assert [e.name for e, _ in registry.space("semantic")] == ["text", "vision"]


def test_a_wrong_checksum_fails_that_model_only(model_repo: Path, tmp_path: Path) -> None:
    root = _copy(model_repo, tmp_path, "vision", "text")
    manifest_path = root / "vision" / "1" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    registry = _load_all(root)
    vision = registry.get("vision")
    assert vision.state is ModelState.FAILED and "sha256" in (vision.reason or "")
    assert registry.get("text").state is ModelState.READY
    assert not registry.all_ready
    with pytest.raises(NotReadyError, match="failed"):
        registry.ready("vision")


def test_missing_tokenizer_and_bad_manifest_fail_clearly(model_repo: Path, tmp_path: Path) -> None:
    root = _copy(model_repo, tmp_path, "text", "vision")
    (root / "text" / "1" / "tokenizer.json").unlink()
    (root / "vision" / "1" / MANIFEST_FILE).write_text('{"name": "vision", "typo": 1}')
    registry = _load_all(root)
    assert "tokenizer" in (registry.get("text").reason or "")
    assert registry.get("vision").state is ModelState.FAILED
    assert "ValidationError" in (registry.get("vision").reason or "")


def test_the_highest_version_serves(model_repo: Path, tmp_path: Path) -> None:
    root = _copy(model_repo, tmp_path, "vision")
    (root / "vision" / "7").mkdir()  # an empty, higher version: served, so it fails loudly
    registry = _load_all(root)
    entry = registry.get("vision")
    assert entry.versions == [1, 7] and entry.version == 7
    assert entry.state is ModelState.FAILED and "7" in (entry.reason or "")


def test_require_gpu_fails_readiness_instead_of_running_on_cpu(model_repo: Path) -> None:
    registry = _load_all(model_repo, require_gpu=True)
    for entry in registry.entries():
        assert entry.state is ModelState.FAILED
        assert "GPU is required" in (entry.reason or "")
        assert entry.providers == ["CPUExecutionProvider"]


def test_selected_names_and_unknown_names(model_repo: Path) -> None:
    registry = _load_all(model_repo, names=("text", "nope"))
    assert [e.name for e in registry.entries()] == ["nope", "text"]
    assert registry.get("nope").state is ModelState.FAILED
    with pytest.raises(ModelNotFoundError):
        registry.get("vision")


def test_runner_pads_texts_per_batch_without_changing_results(model_repo: Path) -> None:
    registry = _load_all(model_repo, names=("text",))
    model = registry.ready("text")
    short, long = (model.preprocessor.prepare(text=t) for t in ("good", "a very good great film"))
    alone = model.runner.run([short])[0]["embedding"]
    batched = model.runner.run([long, short])
    assert np.allclose(batched[1]["embedding"], alone, atol=1e-5)
    assert not np.allclose(batched[0]["embedding"], alone, atol=1e-3)


def test_after_one_cuda_miss_the_other_models_ask_for_the_cpu_only(
    model_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.inference.registry as module

    asked: list[str] = []
    real = module.create_session

    def create_session(path: Path, config: SessionConfig) -> object:
        asked.append(config.providers)
        return real(path, SessionConfig(providers="cpu"))  # as if CUDA failed to load

    monkeypatch.setattr(module, "create_session", create_session)
    monkeypatch.setattr(module, "requested_providers", lambda mode: ["CUDAExecutionProvider"])
    registry = Registry(RegistryConfig(model_dir=model_repo, session=SessionConfig("auto")))
    for entry in registry.discover():
        registry.load(entry.name)
    assert registry.all_ready
    assert asked == ["auto", "cpu", "cpu"]  # one CUDA attempt (and one ORT error log), not three
