"""A broken newest version never takes a model, or readiness, away: the previous version serves."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import service.inference.served as served
from bench.versions import copy_version
from contract.manifest import MANIFEST_FILE, MODEL_FILE
from tests.service.media import b64, png


def _edit_manifest(version_dir: Path, **changes: Any) -> None:
    path = version_dir / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, **changes}))


def _empty(root: Path) -> None:
    (root / "vision" / "2").mkdir()


def _missing_model(root: Path) -> None:
    (copy_version(root, "vision", 1, 2) / MODEL_FILE).unlink()


def _checksum(root: Path) -> None:
    _edit_manifest(copy_version(root, "vision", 1, 2), sha256="0" * 64)


def _unknown_field(root: Path) -> None:
    _edit_manifest(copy_version(root, "vision", 1, 2), surprise=1)


def _onnx_does_not_load(root: Path) -> None:
    version_dir = copy_version(root, "vision", 1, 2)
    garbage = b"this is not an onnx graph"
    (version_dir / MODEL_FILE).write_bytes(garbage)
    _edit_manifest(version_dir, sha256=hashlib.sha256(garbage).hexdigest())  # passes the checksum


def _warm_up_fails(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_version(root, "vision", 1, 2)
    real = served._warm_up

    def warm_up(runner: Any, item: Any, settings: Any) -> Any:
        if runner.manifest.name == "vision" and runner.manifest.version == 2:
            raise RuntimeError("warm-up batch failed")
        return real(runner, item, settings)

    monkeypatch.setattr(served, "_warm_up", warm_up)


CASES: dict[str, tuple[Callable[..., None], str]] = {
    "empty version directory": (_empty, "manifest.json"),
    "missing model file": (_missing_model, "model.onnx is missing"),
    "checksum mismatch": (_checksum, "sha256"),
    "manifest with an unknown field": (_unknown_field, "surprise"),
    "onnx that does not load": (_onnx_does_not_load, "model.onnx"),
    "warm-up that fails": (_warm_up_fails, "warm-up batch failed"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_version_2_leaves_version_1_serving(
    case: str, model_repo: Path, tmp_path: Path, make_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root = tmp_path / "repo"
    for name in ("vision", "text"):
        shutil.copytree(model_repo / name, root / name)
    breaker, expected = CASES[case]
    if breaker is _warm_up_fails:
        breaker(root, monkeypatch)
    else:
        breaker(root)
    with make_client(model_dir=root) as client:
        assert client.get("/health/ready").status_code == 200
        assert client.get("/v2/models/vision/ready").status_code == 200
        vision = client.get("/v1/models/vision").json()
        assert vision["state"] == "ready" and vision["version"] == 1
        assert vision["serving_versions"] == [1] and vision["versions"] == [1, 2]
        reason = vision["failed_versions"]["2"]
        assert expected in reason and str(tmp_path) not in reason  # no server paths
        answer = client.post("/v1/classify", json={"items": [{"image": b64(png())}]})
        assert answer.status_code == 200 and answer.json()["version"] == 1
        pinned = client.post("/v1/classify", json={"version": 2, "items": [{"image": b64(png())}]})
        assert pinned.status_code == 503 and expected in pinned.json()["error"]["message"]
        assert client.post("/v1/sentiment", json={"items": [{"text": "good"}]}).status_code == 200


@pytest.mark.parametrize("require_all", [False, True])
def test_a_model_with_no_servable_version(
    require_all: bool, model_repo: Path, tmp_path: Path, make_client: Callable[..., Any]
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(model_repo / "text", root / "text")
    (root / "vision" / "1").mkdir(parents=True)  # only an empty version
    with make_client(model_dir=root, require_all_models=require_all) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == (503 if require_all else 200)
        assert ready.json()["models"]["vision"]["state"] == "failed"
        assert client.get("/v2/models/vision/ready").status_code == 503
        assert client.get("/v2/models/text/ready").status_code == 200
        assert client.get("/v1/models/vision").json()["serving_versions"] == []
