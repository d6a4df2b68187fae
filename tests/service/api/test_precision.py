"""int8 end to end: the setting picks the file, /v1/models says which, answers stay close."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.service.media import b64, png
from tests.service.tiny_models import build_int8_repository

PHOTOS = [png((220, 20, 20)), png((20, 20, 220), (64, 30)), png((30, 200, 60), (40, 70))]


@pytest.fixture(scope="module")
def int8_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_int8_repository(tmp_path_factory.mktemp("int8-models"))


@contextmanager
def _serving(repo: Path, tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    settings = Settings(
        model_dir=repo, providers="cpu", gallery_data_dir=tmp_path / "gallery", **overrides
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.portal.call(app.state.engine.wait_loaded, 60)
        yield client


def _embeddings(client: TestClient) -> np.ndarray:
    inputs = [{"type": "image", "image": b64(p)} for p in PHOTOS]
    response = client.post("/v1/embed", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    return np.array([e["vector"] for e in response.json()["embeddings"]])


def _precision(client: TestClient) -> tuple[str, list[str]]:
    info = client.get("/v1/models/vision").json()
    assert info["state"] == "ready", info
    listed = {m["name"]: m["precision"] for m in client.get("/v1/models").json()["models"]}
    assert listed["vision"] == info["precision"]
    return info["precision"], info["precisions"]


def test_int8_serves_when_asked_and_stays_close_to_fp32(int8_repo: Path, tmp_path: Path) -> None:
    with _serving(int8_repo, tmp_path, precision="fp32") as client:
        assert _precision(client) == ("fp32", ["fp32", "int8"])
        fp32 = _embeddings(client)
    with _serving(int8_repo, tmp_path, precision="int8") as client:
        assert _precision(client) == ("int8", ["fp32", "int8"])
        int8 = _embeddings(client)
        body = {"items": [{"image": b64(p)} for p in PHOTOS]}
        classified = client.post("/v1/classify", json=body)
        assert classified.status_code == 200, classified.text
    assert not np.array_equal(fp32, int8)  # really another file
    assert np.sum(fp32 * int8, axis=1).min() > 0.9  # a tiny random model: coarse, still close


def test_the_per_model_override_wins(int8_repo: Path, tmp_path: Path) -> None:
    with _serving(
        int8_repo, tmp_path, precision="int8", model_precisions={"vision": "fp32"}
    ) as client:
        assert _precision(client)[0] == "fp32"


@pytest.mark.parametrize(("fast", "served"), [(True, "int8"), (False, "fp32")])
def test_auto_takes_int8_only_on_a_cpu_with_int8_dot_products(
    int8_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool, served: str
) -> None:
    monkeypatch.setattr("service.inference.served.cpu_has_int8_dot", lambda: fast)
    with _serving(int8_repo, tmp_path) as client:
        assert _precision(client)[0] == served


def test_models_without_a_variant_serve_fp32_under_int8(
    make_client: Any,
) -> None:
    with make_client(precision="int8") as client:
        models = client.get("/v1/models").json()["models"]
    assert {m["name"]: (m["precision"], m["precisions"]) for m in models} == {
        name: ("fp32", ["fp32"]) for name in ("fusion", "text", "vision")
    }


def test_a_reload_keeps_the_precision(int8_repo: Path, tmp_path: Path) -> None:
    """Explicit control: unload, load again; the new object chooses its file the same way."""
    with _serving(
        int8_repo, tmp_path, precision="int8", model_control_mode="explicit", models=["vision"]
    ) as client:
        assert client.post("/v2/repository/models/vision/unload").status_code == 200
        assert client.post("/v2/repository/models/vision/load").status_code == 200
        client.portal.call(client.app.state.engine.wait_loaded, 60)  # type: ignore[attr-defined]
        assert _precision(client)[0] == "int8"
