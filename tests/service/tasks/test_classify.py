"""The classify and sentiment tasks: which model a request without ``model`` goes to."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from contract.manifest import Manifest
from service.errors import InvalidInputError, ModelNotFoundError
from service.tasks.classify import choose_model
from tests.service.media import b64, png


@dataclass
class FakeModel:
    name: str
    ready: bool
    manifest: Manifest


class FakeEngine:
    """The two calls ``choose_model`` makes: ``models()`` and ``resolve(name)``."""

    def __init__(self, *models: FakeModel) -> None:
        self._models = list(models)
        self.resolved: list[str] = []

    def models(self) -> list[FakeModel]:
        return self._models

    def resolve(self, name: str, version: int | None = None) -> FakeModel:
        self.resolved.append(name)
        return next(m for m in self._models if m.name == name)


def _manifest(name: str) -> Manifest:
    return Manifest.model_validate({
        "name": name, "version": 1, "kind": "classifier", "created": "2026-01-01T00:00:00",
        "inputs": [{"role": "image", "name": "image", "shape": ["batch", 3, 8, 8], "size": [8, 8]}],
        "outputs": [{"name": "c", "task": "c", "type": "softmax", "shape": ["batch", 2],
                     "labels": ["x", "y"]}],
        "sha256": "0" * 64,
    })  # fmt: skip


def _choose(engine: FakeEngine, requested: str | None = None) -> Any:
    return choose_model(engine, requested, "vision", "classify these items", lambda m: True)  # type: ignore[arg-type]


def test_the_named_model_and_else_the_default_when_the_repository_has_it() -> None:
    engine = FakeEngine(FakeModel("a", True, _manifest("a")),
                        FakeModel("vision", False, _manifest("vision")))  # fmt: skip
    assert _choose(engine, "a").name == "a"
    assert _choose(engine).name == "vision"  # even loading: its state decides (503), as before
    assert engine.resolved == ["a", "vision"]


def test_without_the_default_the_one_ready_model_that_fits_serves() -> None:
    engine = FakeEngine(FakeModel("a", True, _manifest("a")),
                        FakeModel("b", False, _manifest("b")))  # fmt: skip
    assert _choose(engine).name == "a" and engine.resolved == ["a"]


def test_several_candidates_are_named_and_none_is_a_404() -> None:
    engine = FakeEngine(FakeModel("a", True, _manifest("a")), FakeModel("b", True, _manifest("b")))
    with pytest.raises(InvalidInputError, match="models that can classify these items: a, b"):
        _choose(engine)
    with pytest.raises(ModelNotFoundError, match="no loaded model can classify these items"):
        _choose(FakeEngine())


@pytest.fixture(scope="module")
def no_vision(model_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("no-vision")
    for name in ("text", "fusion"):
        shutil.copytree(model_repo / name, root / name)
    return root


def test_over_http_a_repository_without_vision_picks_the_model_that_fits(
    make_client: Callable[..., Any], no_vision: Path
) -> None:
    with make_client(model_dir=no_vision) as client:
        texts = client.post("/v1/classify", json={"items": [{"text": "good film"}]})
        assert texts.status_code == 200 and texts.json()["model"] == "text"
        both = {"items": [{"text": "what color", "image": b64(png())}]}
        assert client.post("/v1/classify", json=both).json()["model"] == "fusion"
        images = client.post("/v1/classify", json={"items": [{"image": b64(png())}]})
        assert images.status_code == 404
        assert "no loaded model can classify these items" in images.json()["error"]["message"]
        rated = client.post("/v1/sentiment", json={"items": [{"text": "good"}]})
        assert rated.status_code == 200 and rated.json()["model"] == "text"
