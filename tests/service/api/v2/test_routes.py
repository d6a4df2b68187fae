"""The /v2 routes in process: metadata, inference on raw and BYTES tensors, heads, errors."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from contract.manifest import ImageInput, TextInput, read_manifest
from service.app import create_app
from service.inference.images import image_input
from service.inference.text import TextEncoder
from service.settings import Settings
from tests.service.tiny_models import ANIMALS


@pytest.fixture(scope="module")
def repo(model_repo: Path) -> Path:
    """The tiny models of ``conftest.py`` (``client`` serves them with ``max_items=8``)."""
    return model_repo


def _direct(repo: Path, model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same model run straight through ONNX Runtime (the reference)."""
    session = ort.InferenceSession(str(repo / model / "1" / "model.onnx"))
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def _jpeg(color: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> bytes:
    picture = Image.new("RGB", size, color)
    picture.paste((255 - color[0], 90, 30), (5, 5, 25, 20))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _fp32(name: str, array: np.ndarray, nested: bool = True) -> dict[str, object]:
    data = array.tolist() if nested else array.reshape(-1).tolist()
    return {"name": name, "shape": list(array.shape), "datatype": "FP32", "data": data}


def _output(body: dict[str, object], name: str) -> np.ndarray:
    for out in body["outputs"]:  # type: ignore[attr-defined]
        if out["name"] == name:
            return np.asarray(out["data"]).reshape(out["shape"])
    raise KeyError(name)


def test_server_metadata_and_health(client: TestClient) -> None:
    meta = client.get("/v2").json()
    assert meta["name"] == "mapping-serve"
    assert {"binary_tensor_data", "classification"} <= set(meta["extensions"])
    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").json() == {"ready": True}


def test_model_metadata_lists_every_head(client: TestClient) -> None:
    meta = client.get("/v2/models/vision").json()
    assert meta["platform"] == "onnxruntime_onnx" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    assert [o["name"] for o in meta["outputs"]] == ["animal", "color", "embedding"]
    text = client.get("/v2/models/text/versions/1").json()
    assert text["inputs"][0] == {"name": "input_ids", "datatype": "INT64", "shape": [-1, -1]}
    config = client.get("/v2/models/vision/config").json()
    assert config["max_batch_size"] == 8 and config["input"][0]["dims"] == [3, 32, 32]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v2/models/nope", 404),
        ("/v2/models/vision/versions/2", 404),
        ("/v2/models/nope/ready", 404),
        ("/v2/models/vision/versions/7/ready", 404),
    ],
)
def test_unknown_models_and_versions_are_404_with_a_v2_error(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert set(response.json()) == {"error"} and isinstance(response.json()["error"], str)


def test_model_ready(client: TestClient) -> None:
    assert client.get("/v2/models/vision/ready").status_code == 200
    assert client.get("/v2/models/text/versions/1/ready").json() == {"name": "text", "ready": True}


@pytest.mark.parametrize("nested", [True, False])
def test_infer_raw_tensor_matches_onnxruntime(client: TestClient, repo: Path, nested: bool) -> None:
    image = np.random.default_rng(1).normal(size=(3, 3, 32, 32)).astype(np.float32)
    body = {"id": "req-1", "inputs": [_fp32("image", image, nested)]}
    response = client.post("/v2/models/vision/versions/1/infer", json=body)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["id"] == "req-1" and result["model_name"] == "vision"
    assert result["model_version"] == "1"
    expected = _direct(repo, "vision", {"image": image})
    for name in ("animal", "color", "embedding"):
        np.testing.assert_allclose(_output(result, name), expected[name], atol=1e-5)


def test_outputs_select_heads_and_classification_gives_top_k(client: TestClient) -> None:
    image = np.random.default_rng(2).normal(size=(2, 3, 32, 32)).astype(np.float32)
    body = {
        "inputs": [_fp32("image", image)],
        "outputs": [{"name": "color"}, {"name": "animal", "parameters": {"classification": 2}}],
    }
    result = client.post("/v2/models/vision/infer", json=body).json()
    assert [o["name"] for o in result["outputs"]] == ["color", "animal"]
    animal = result["outputs"][1]
    assert animal["datatype"] == "BYTES" and animal["shape"] == [2, 2]
    value, index, label = animal["data"][0].split(":")
    assert label == ANIMALS[int(index)] and 0.0 < float(value) <= 1.0


def test_bytes_image_is_decoded_as_the_manifest_says(client: TestClient, repo: Path) -> None:
    jpegs = [_jpeg((200, 30, 30)), _jpeg((20, 60, 220), (64, 30))]
    data = [base64.b64encode(jpegs[0]).decode(), "data:image/jpeg;base64," +
            base64.b64encode(jpegs[1]).decode()]  # fmt: skip
    body = {"inputs": [{"name": "image", "shape": [2, 1], "datatype": "BYTES", "data": data}],
            "outputs": [{"name": "embedding"}]}  # fmt: skip
    result = client.post("/v2/models/vision/infer", json=body).json()
    spec = read_manifest(repo / "vision" / "1").input("image")
    assert isinstance(spec, ImageInput)
    # the service's decode and transform (tests/contract holds it to the reference transform)
    batch = np.stack([image_input(j, spec, 10**7) for j in jpegs])
    expected = _direct(repo, "vision", {"image": batch})["embedding"]
    np.testing.assert_allclose(_output(result, "embedding"), expected, atol=1e-5)


def _encoded(repo: Path, texts: list[str]) -> dict[str, np.ndarray]:
    spec = read_manifest(repo / "text" / "1").input("text")
    assert isinstance(spec, TextInput)
    encoder = TextEncoder(spec, repo / "text" / "1", max_chars=10_000)
    rows = [encoder.encode(t) for t in texts]
    width = max(len(r["text"]) for r in rows)
    feeds = {}
    for name, role in (("input_ids", "text"), ("attention_mask", "attention_mask"),
                       ("token_type_ids", "token_type_ids")):  # fmt: skip
        padded = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            padded[i, : len(row[role])] = row[role]
        feeds[name] = padded
    return feeds


def test_bytes_text_is_tokenised_and_raw_tokens_give_the_same_answer(
    client: TestClient, repo: Path
) -> None:
    texts = ["a wonderful happy movie", "this film was awful"]
    body = {"inputs": [{"name": "input_ids", "shape": [2], "datatype": "BYTES", "data": texts}]}
    by_text = client.post("/v2/models/text/infer", json=body).json()
    feeds = _encoded(repo, texts)
    raw_inputs = [{"name": n, "shape": list(a.shape), "datatype": "INT64", "data": a.tolist()}
                  for n, a in feeds.items()]  # fmt: skip
    by_ids = client.post("/v2/models/text/infer", json={"inputs": raw_inputs}).json()
    expected = _direct(repo, "text", feeds)
    for name in ("sentiment", "valence", "embedding"):
        np.testing.assert_allclose(_output(by_text, name), expected[name], atol=1e-5)
        np.testing.assert_allclose(_output(by_ids, name), expected[name], atol=1e-5)


def test_fusion_takes_an_image_and_a_text_as_bytes(client: TestClient) -> None:
    image = base64.b64encode(_jpeg((10, 200, 10))).decode()
    body = {"inputs": [
        {"name": "image", "shape": [1], "datatype": "BYTES", "data": [image]},
        {"name": "input_ids", "shape": [1], "datatype": "BYTES", "data": ["what color is it"]},
    ]}  # fmt: skip
    response = client.post("/v2/models/fusion/infer", json=body)
    assert response.status_code == 200, response.text
    assert abs(sum(response.json()["outputs"][0]["data"]) - 1.0) < 1e-5


def test_binary_tensor_data_in_and_out(client: TestClient, repo: Path) -> None:
    image = np.random.default_rng(3).normal(size=(2, 3, 32, 32)).astype(np.float32)
    header = json.dumps({
        "inputs": [{"name": "image", "shape": [2, 3, 32, 32], "datatype": "FP32",
                    "parameters": {"binary_data_size": image.nbytes}}],
        "outputs": [{"name": "animal", "parameters": {"binary_data": True}}, {"name": "color"}],
    }).encode()  # fmt: skip
    response = client.post(
        "/v2/models/vision/infer", content=header + image.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)),
                 "Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    size = int(response.headers["Inference-Header-Content-Length"])
    meta = json.loads(response.content[:size])
    animal = meta["outputs"][0]
    assert "data" not in animal and animal["parameters"]["binary_data_size"] == 2 * 3 * 4
    values = np.frombuffer(response.content[size:], dtype=np.float32).reshape(2, 3)
    expected = _direct(repo, "vision", {"image": image})
    np.testing.assert_allclose(values, expected["animal"], atol=1e-5)
    np.testing.assert_allclose(_output(meta, "color"), expected["color"], atol=1e-5)


def _image_input(shape: list[int], datatype: str = "FP32") -> dict[str, object]:
    count = int(np.prod(shape))
    return {"name": "image", "shape": shape, "datatype": datatype, "data": [0] * count}


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        ("vision", {"inputs": [_image_input([1, 3, 32, 32], "INT64")]}, "must be FP32"),
        ("vision", {"inputs": [_image_input([1, 3, 16, 16])]}, "must be 32"),
        ("vision", {"inputs": [_image_input([9, 3, 1, 1])]}, "limit is 8"),
        ("vision", {"inputs": [{**_image_input([1, 3, 32, 32]), "name": "pixels"}]}, "no input"),
        ("vision", {"inputs": [_image_input([1, 3, 32, 32])], "outputs": [{"name": "x"}]},
         "no output"),
        ("vision", {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                "data": ["%%%"]}]}, "base64"),
        ("text", {"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "INT64",
                              "data": [[5, 6]]}]}, "missing"),
        ("text", {"inputs": [{"name": "input_ids", "shape": [1], "datatype": "BYTES",
                              "data": ["hi"]},
                             {"name": "attention_mask", "shape": [1, 1], "datatype": "INT64",
                              "data": [[1]]}]}, "derived"),
        ("text", {"inputs": [{"name": "input_ids", "shape": [1], "datatype": "BYTES",
                              "data": ["good " * 50]}]}, "limit is 200"),
        ("text", {"inputs": [{"name": "input_ids", "shape": [1, 2], "datatype": "FP32",
                              "data": [[5, 6]]}]}, "or BYTES: strings"),
        ("fusion", {"inputs": [_image_input([1, 3, 32, 32]),
                               {"name": "input_ids", "shape": [2], "datatype": "BYTES",
                                "data": ["a", "b"]}]}, "same batch size"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_with_a_message(
    client: TestClient, model: str, body: dict[str, object], message: str
) -> None:
    response = client.post(f"/v2/models/{model}/infer", json=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_malformed_body_and_unknown_model(client: TestClient) -> None:
    bad = client.post("/v2/models/vision/infer", content=b"{not json")
    assert bad.status_code == 400 and "JSON" in bad.json()["error"]
    missing = client.post("/v2/models/nope/infer", json={"inputs": [_image_input([1])]})
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


def test_requests_are_counted_per_model_in_metrics(client: TestClient) -> None:
    client.post("/v2/models/vision/infer", json={"inputs": [_image_input([1, 3, 32, 32])]})
    metrics = client.get("/metrics").text
    assert 'mms_batch_size_count{model="vision"}' in metrics
    assert 'model="vision",status="200"' in metrics


def test_concurrent_v2_requests_share_one_batch(repo: Path) -> None:
    settings = Settings(
        model_dir=repo, models=["vision"], max_delay_ms=500, providers="cpu", batch_autotune=False
    )
    app = create_app(settings)
    image = np.zeros((1, 3, 32, 32), dtype=np.float32)

    async def scenario(app: FastAPI) -> int:
        await app.state.engine.wait_loaded(60)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"inputs": [_fp32("image", image)]}
            calls = [client.post("/v2/models/vision/infer", json=body) for _ in range(4)]
            responses = await asyncio.gather(*calls)
        assert all(r.status_code == 200 for r in responses)
        return int(app.state.engine.resolve("vision").stats.largest_batch)

    with TestClient(app) as test_client:
        largest = test_client.portal.call(scenario, app)
    assert largest == 4


def test_middleware_errors_on_v2_paths_use_the_v2_shape(make_client: Callable[..., Any]) -> None:
    with make_client(api_key="s3cret", max_body_bytes=4096) as client:
        denied = client.post("/v2/models/vision/infer", json={"inputs": []})
        assert denied.status_code == 401 and set(denied.json()) == {"error"}
        assert isinstance(denied.json()["error"], str) and "API key" in denied.json()["error"]
        assert denied.headers["www-authenticate"] == "Bearer" and denied.headers["x-request-id"]
        key = {"X-API-Key": "s3cret", "content-type": "application/json"}
        declared = client.post("/v2/models/vision/infer", content=b"x" * 5000, headers=key)
        assert declared.status_code == 413 and isinstance(declared.json()["error"], str)
        streamed = client.post("/v2/models/vision/infer", headers=key,
                               content=iter([b"y" * 3000, b"y" * 3000]))  # fmt: skip
        assert streamed.status_code == 413 and "4096 bytes" in streamed.json()["error"]
        v1 = client.get("/v1/models")  # the rest of the API keeps its envelope
        assert v1.status_code == 401 and v1.json()["error"]["type"] == "unauthorized"
