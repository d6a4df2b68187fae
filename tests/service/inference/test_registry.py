"""The registry and its served models without HTTP: discovery, checks, providers, GPU policy."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from contract.manifest import MANIFEST_FILE
from service.errors import ModelNotFoundError, NotReadyError
from service.events import NullObserver
from service.inference.lifecycle import Lifecycle
from service.inference.registry import Registry
from service.inference.served import ModelState
from service.inference.session import SessionConfig
from service.settings import Settings


def _copy(repo: Path, tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "repo"
    for name in names:
        shutil.copytree(repo / name, root / name)
    return root


def _sync_all(registry: Registry) -> Registry:
    """What the engine does at start, without HTTP: sync every model named (one loop)."""
    lifecycle = Lifecycle(registry, registry.settings, NullObserver())

    async def sync() -> None:
        for name in registry.names_to_serve():
            await lifecycle.sync(name)

    asyncio.run(sync())
    return registry


def _load_all(root: Path, **settings: object) -> Registry:
    return _sync_all(Registry(Settings(model_dir=root, providers="cpu", **settings)))  # type: ignore[arg-type]


def test_loads_every_model_and_reports_the_cpu_provider(model_repo: Path) -> None:
    registry = _load_all(model_repo)
    assert [m.name for m in registry.models()] == ["fusion", "text", "vision"]
    assert registry.all_ready
    for model in registry.models():
        assert model.state is ModelState.READY and model.reason is None
        assert model.providers == ["CPUExecutionProvider"]
        assert model.load_seconds is not None and model.load_seconds > 0
    assert [m.name for m, _ in registry.space("semantic")] == ["text", "vision"]


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
        registry.resolve("vision")


def test_missing_tokenizer_and_bad_manifest_fail_clearly(model_repo: Path, tmp_path: Path) -> None:
    root = _copy(model_repo, tmp_path, "text", "vision")
    (root / "text" / "1" / "tokenizer.json").unlink()
    (root / "vision" / "1" / MANIFEST_FILE).write_text('{"name": "vision", "typo": 1}')
    registry = _load_all(root)
    assert "tokenizer" in (registry.get("text").reason or "")
    assert registry.get("vision").state is ModelState.FAILED
    assert "ValidationError" in (registry.get("vision").reason or "")


def test_an_empty_higher_version_fails_and_the_previous_one_serves(
    model_repo: Path, tmp_path: Path
) -> None:
    root = _copy(model_repo, tmp_path, "vision")
    (root / "vision" / "7").mkdir()  # an empty, higher version: tried, fails, 1 serves
    registry = _load_all(root)
    model = registry.get("vision")
    assert model.versions == [1, 7] and model.version == 1 and model.ready
    broken = registry.get("vision", 7)
    assert broken.state is ModelState.FAILED and "manifest.json" in (broken.reason or "")
    assert str(root) not in (broken.reason or "")  # no server paths over HTTP
    assert registry.all_ready


def test_require_gpu_fails_readiness_instead_of_running_on_cpu(model_repo: Path) -> None:
    registry = _load_all(model_repo, require_gpu=True)
    for model in registry.models():
        assert model.state is ModelState.FAILED
        assert "GPU is required" in (model.reason or "")
        assert model.providers == ["CPUExecutionProvider"]


def test_selected_names_and_unknown_names(model_repo: Path) -> None:
    registry = _load_all(model_repo, models=["text", "nope"])
    assert [m.name for m in registry.models()] == ["nope", "text"]
    assert registry.get("nope").state is ModelState.FAILED
    with pytest.raises(ModelNotFoundError):
        registry.get("vision")


def test_runner_pads_texts_per_batch_without_changing_results(model_repo: Path) -> None:
    registry = _load_all(model_repo, models=["text"])
    model = registry.get("text")
    short, long = (model.preprocessor.prepare(text=t) for t in ("good", "a very good great film"))
    run = model.runner.run
    alone = run([short])[0]["embedding"]
    batched = run([long, short])
    assert np.allclose(batched[1]["embedding"], alone, atol=1e-5)
    assert not np.allclose(batched[0]["embedding"], alone, atol=1e-3)


def test_auto_probes_cuda_once_and_every_model_asks_for_what_works(
    model_repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import service.inference.providers as providers
    import service.inference.served as served

    probes: list[int] = []
    asked: list[str] = []
    real = served.create_session

    def cuda_usable() -> bool:
        probes.append(1)
        return False  # as if CUDA failed to load

    def create_session(path: Path, config: SessionConfig) -> object:
        asked.append(config.providers)
        return real(path, config)

    monkeypatch.setattr(providers, "cuda_usable", cuda_usable)
    monkeypatch.setattr(served, "create_session", create_session)
    registry = Registry(Settings(model_dir=model_repo, providers="auto"))
    with caplog.at_level("INFO", logger="service.inference.providers"):
        _sync_all(registry)
    assert all(m.state is ModelState.READY for m in registry.models())
    assert probes == [1]  # one CUDA attempt (and no ORT error log), not one per model
    # each model's session, and a second one that times a single intra-op thread at warm-up
    assert asked == ["cpu"] * 2 * len(registry.models())
    assert [r.message for r in caplog.records].count(
        "no usable GPU for ONNX Runtime (no device or no CUDA libraries): the CPU serves"
    ) == 1
