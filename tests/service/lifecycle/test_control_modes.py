"""Model control modes: poll applies repository changes; explicit loads and unloads via the API."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tritonclient.http as triton
from fastapi.testclient import TestClient
from tritonclient.utils import InferenceServerException

from bench.versions import copy_version
from service.app import create_app
from service.settings import Settings
from tests.service.api.v2.server import serve_in_thread
from tests.service.media import b64, png


def _repo(model_repo: Path, tmp_path: Path, *names: str) -> Path:
    root = tmp_path / "repo"
    for name in names:
        shutil.copytree(model_repo / name, root / name)
    return root


def _until(check: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the change was not applied in time"
        time.sleep(0.05)


def _serving(client: TestClient, name: str) -> list[int] | None:
    response = client.get(f"/v1/models/{name}")
    return response.json()["serving_versions"] if response.status_code == 200 else None


def test_poll_applies_new_and_removed_versions_and_models(
    model_repo: Path, tmp_path: Path, make_client: Callable[..., Any]
) -> None:
    root = _repo(model_repo, tmp_path, "vision")
    with make_client(model_dir=root, model_control_mode="poll", repository_poll_s=0.05) as client:
        (root / "vision" / ".3.building").mkdir()  # the exporter's staging: never a version
        copy_version(root, "vision", 1, 2)
        _until(lambda: _serving(client, "vision") == [2])
        answer = client.post("/v1/classify", json={"items": [{"image": b64(png())}]})
        assert answer.json()["version"] == 2
        assert client.get("/v1/models/vision").json()["failed_versions"] == {}
        shutil.rmtree(root / "vision" / "2")
        _until(lambda: _serving(client, "vision") == [1])
        shutil.copytree(model_repo / "text", root / "text")
        _until(lambda: _serving(client, "text") == [1])
        shutil.rmtree(root / "vision")
        _until(lambda: _serving(client, "vision") is None)
        assert client.get("/health/ready").status_code == 200  # text still serves


def test_a_named_model_with_no_folder_fails_with_a_reason_instead_of_loading_forever(
    model_repo: Path, tmp_path: Path, make_client: Callable[..., Any]
) -> None:
    root = _repo(model_repo, tmp_path, "vision")
    with make_client(model_dir=root, models=["vision", "visoin"]) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200  # vision serves; only require_all_models needs both
        typo = ready.json()["models"]["visoin"]
        assert typo["state"] == "failed"
        assert typo["reason"] == "no version directory under visoin/ in the model repository"
    with make_client(model_dir=root, models=["visoin"]) as client:
        assert client.get("/health/ready").status_code == 503
        assert client.get("/v1/models/visoin").json()["state"] == "failed"


def test_version_policies_serve_several_versions_and_requests_choose(
    model_repo: Path, tmp_path: Path, make_client: Callable[..., Any]
) -> None:
    root = _repo(model_repo, tmp_path, "vision", "text")
    copy_version(root, "vision", 1, 2)
    copy_version(root, "vision", 1, 3)
    copy_version(root, "text", 1, 2)
    policies = {"vision": "specific:1,3"}
    with make_client(
        model_dir=root, version_policy="latest:2", model_version_policies=policies
    ) as client:
        assert _serving(client, "vision") == [1, 3] and _serving(client, "text") == [1, 2]
        image = [{"image": b64(png())}]
        assert client.post("/v1/classify", json={"items": image}).json()["version"] == 3
        pinned = client.post("/v1/classify", json={"items": image, "version": 1})
        assert pinned.json()["version"] == 1
        missing = client.post("/v1/classify", json={"items": image, "version": 2})
        assert missing.status_code == 404 and "versions served: 1, 3" in missing.text
        text = client.post("/v1/sentiment", json={"items": [{"text": "ok"}], "version": 1})
        assert text.json()["version"] == 1
        assert client.get("/v2/models/vision/versions/1/ready").status_code == 200


def test_settings_parse_policies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMS_MODEL_VERSION_POLICIES", "vision=specific:1,2;text=all")
    settings = Settings()
    assert str(settings.policy_for("vision")) == "specific:1,2"
    assert str(settings.policy_for("text")) == "all" and str(settings.policy_for("x")) == "latest:1"
    with pytest.raises(ValueError, match="latest:N"):
        Settings(version_policy="newest")


def test_explicit_mode_through_tritonclient(model_repo: Path, tmp_path: Path) -> None:
    root = _repo(model_repo, tmp_path, "vision", "text")
    settings = Settings(
        model_dir=root, providers="cpu", model_control_mode="explicit", models=["text"]
    )
    with serve_in_thread(create_app(settings)) as url:
        client = triton.InferenceServerClient(url)
        index = {(m["name"], m.get("version", "")): m for m in client.get_model_repository_index()}
        assert index[("text", "1")]["state"] == "READY"
        assert index[("vision", "")]["state"] == "UNAVAILABLE"
        assert not _known(client, "vision")  # not loaded: no metadata
        client.load_model("vision")
        assert client.is_model_ready("vision")
        copy_version(root, "vision", 1, 2)
        client.load_model("vision")  # latest:1: 2 loads beside 1, then 1 drains and goes
        versions = {m["version"] for m in client.get_model_repository_index()
                    if m["name"] == "vision"}  # fmt: skip
        assert versions == {"2"}
        client.unload_model("vision")
        assert not _known(client, "vision")
        with pytest.raises(InferenceServerException, match="no model folder"):
            client.load_model("nope")
        client.close()


def _known(client: triton.InferenceServerClient, name: str) -> bool:
    try:
        client.get_model_metadata(name)
    except InferenceServerException as exc:
        return "no model named" not in str(exc)
    return True


def test_load_and_unload_are_refused_outside_explicit_mode(
    make_client: Callable[..., Any],
) -> None:
    with make_client(api_key="k") as client:
        assert client.post("/v2/repository/index").status_code == 401  # the key applies
        key = {"X-API-Key": "k"}
        refused = client.post("/v2/repository/models/vision/load", headers=key)
        assert refused.status_code == 400
        assert "not allowed in model control mode 'none'" in refused.json()["error"]
        assert client.post("/v2/repository/models/x/unload", headers=key).status_code == 400
        index = client.post("/v2/repository/index", headers=key).json()
        assert {(m["name"], m["state"]) for m in index} >= {("vision", "READY"), ("text", "READY")}
