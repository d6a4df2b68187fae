"""Operations: health and readiness, model metadata, request ids, API key, CORS, docs, OpenAPI."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from contract.manifest import MANIFEST_FILE
from service.app import create_app
from service.inference.served import ServedModel
from service.settings import Settings
from tests.service.media import b64, png
from tests.service.tiny_models import ANIMALS

EXPECTED_PATHS = {
    "/health/live", "/health/ready", "/metrics",
    "/v1/models", "/v1/models/{name}",
    "/v1/classify", "/v1/classify/upload", "/v1/sentiment", "/v1/sentiment/upload",
    "/v1/embed", "/v1/embed/upload", "/v1/similarity", "/v1/rank", "/v1/rank/upload",
    "/v1/collections", "/v1/collections/{name}", "/v1/collections/{name}/items",
    "/v1/collections/{name}/items/upload", "/v1/collections/{name}/items/{item_id}",
    "/v1/collections/{name}/items/delete", "/v1/collections/{name}/count",
    "/v1/collections/{name}/search", "/v1/collections/{name}/search/upload",
}  # fmt: skip


def test_readiness_is_503_until_models_are_loaded_and_warmed(
    model_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    original = ServedModel.load

    def gated_load(self: ServedModel, session: Any) -> Any:
        gate.wait(10)
        return original(self, session)

    monkeypatch.setattr(ServedModel, "load", gated_load)
    app = create_app(Settings(model_dir=model_repo, providers="cpu"))
    with TestClient(app) as client:
        assert client.get("/health/live").status_code == 200
        waiting = client.get("/health/ready")
        assert waiting.status_code == 503 and waiting.headers["retry-after"] == "1"
        assert {m["state"] for m in waiting.json()["models"].values()} == {"loading"}
        loading = client.post("/v1/classify", json={"items": [{"image": b64(png())}]})
        assert loading.status_code == 503 and loading.json()["error"]["type"] == "not_ready"
        gate.set()
        client.portal.call(app.state.engine.wait_loaded, 30)
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert client.post("/v1/classify", json={"items": [{"image": b64(png())}]}).is_success


@pytest.mark.parametrize("require_all", [False, True])
def test_a_broken_model_is_reported_failed_while_the_others_serve(
    model_repo: Path, tmp_path: Path, make_client: Callable[..., Any], require_all: bool
) -> None:
    root = tmp_path / "repo"
    for name in ("vision", "text"):
        shutil.copytree(model_repo / name, root / name)
    manifest = json.loads((root / "vision/1" / MANIFEST_FILE).read_text())
    manifest["sha256"] = "f" * 64
    (root / "vision/1" / MANIFEST_FILE).write_text(json.dumps(manifest))
    with make_client(model_dir=root, require_all_models=require_all) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == (503 if require_all else 200)  # README: readiness
        assert ready.json()["models"]["vision"]["state"] == "failed"
        info = client.get("/v1/models/vision").json()
        assert info["state"] == "failed" and "sha256" in info["reason"]
        assert (
            client.post("/v1/classify", json={"items": [{"image": b64(png())}]}).status_code == 503
        )
        assert client.post("/v1/sentiment", json={"items": [{"text": "good"}]}).status_code == 200


def test_models_list_and_detail(client: TestClient) -> None:
    listing = client.get("/v1/models").json()["models"]
    assert [m["name"] for m in listing] == ["fusion", "text", "vision"]
    vision = client.get("/v1/models/vision").json()
    assert vision["state"] == "ready" and vision["version"] == 1 and vision["versions"] == [1]
    assert vision["providers"] == ["CPUExecutionProvider"]
    assert vision["modalities"] == ["image"] and vision["inputs"][0]["role"] == "image"
    heads = {h["name"]: h for h in vision["heads"]}
    assert heads["animal"]["labels"] == ANIMALS and heads["embedding"]["space"] == "semantic"
    assert "embedding" in vision["parity"] and vision["batching"]["batches"] >= 0
    assert client.get("/v1/models/fusion").json()["modalities"] == ["image", "text"]


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    given = client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = client.get("/v1/models/nope")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    assert generated.json()["error"]["request_id"] == generated.headers["x-request-id"]
    hostile = client.get("/health/live", headers={"X-Request-ID": "x" * 500})
    assert len(hostile.headers["x-request-id"]) == 32


def test_unexpected_errors_are_a_generic_500_without_details(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client() as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]

        async def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(engine.resolve("text"), "run", explode)
        response = client.post("/v1/sentiment", json={"items": [{"text": "good"}]})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "internal_error" and "secret" not in response.text
    assert error["request_id"] == response.headers["x-request-id"]


def test_api_key_protects_the_api_but_not_probes_metrics_or_docs(
    make_client: Callable[..., Any],
) -> None:
    with make_client(api_key="s3cret") as client:
        denied = client.get("/v1/models")
        assert denied.status_code == 401 and denied.json()["error"]["type"] == "unauthorized"
        assert client.get("/v1/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
        bearer = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/models", headers=bearer).status_code == 200
        for path in ("/health/live", "/health/ready", "/metrics", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 200, path


def test_cors_from_settings(make_client: Callable[..., Any]) -> None:
    with make_client(cors_origins=["https://app.example"]) as client:
        preflight = client.options("/v1/classify", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})  # fmt: skip
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        other = client.get("/health/live", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_docs_render_offline_from_local_assets(client: TestClient) -> None:
    html = client.get("/docs").text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", html)
    assert urls and not [u for u in urls if re.match(r"(https?:)?//", u)], urls
    assert "swagger-ui-bundle.js" in html and "/docs/openapi-3.0.json" in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/static/swagger-ui/{asset}")
        assert response.status_code == 200 and len(response.content) > 10_000
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_openapi_lists_the_public_surface(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = set(schema["paths"])
    assert paths >= EXPECTED_PATHS, EXPECTED_PATHS - paths
    assert {p for p in paths if p.startswith("/v1")} == {
        p for p in EXPECTED_PATHS if p.startswith("/v1")
    }
    upload = schema["paths"]["/v1/classify/upload"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    embed = schema["components"]["schemas"]["EmbedRequest"]
    assert embed["additionalProperties"] is False


def test_the_docs_page_gets_an_openapi_30_document_swagger_ui_4_renders(client: TestClient) -> None:
    document = client.get("/docs/openapi-3.0.json").json()
    assert document["openapi"].startswith("3.0.")  # Swagger UI 4 checks exactly this prefix
    text = json.dumps(document)
    for construct in ('"type": "null"', "contentMediaType", '"const"', '"examples"'):
        assert construct not in text, construct
    assert set(document["paths"]) == set(client.get("/openapi.json").json()["paths"])
    body = document["paths"]["/v1/classify/upload"]["post"]["requestBody"]["content"]
    ref = body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    files = document["components"]["schemas"][ref]["properties"]["files"]
    assert files["nullable"] is True and files["items"] == {"type": "string", "format": "binary"}
    temperature = document["components"]["schemas"]["RankRequest"]["properties"]["temperature"]
    assert temperature["exclusiveMinimum"] is True and temperature["minimum"] == 0
