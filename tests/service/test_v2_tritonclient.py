"""Triton's own HTTP client against the service over real HTTP (uvicorn on a loopback port).

``tritonclient`` is an independent implementation of the Open Inference Protocol and of
Triton's binary tensor and classification extensions; if it works unchanged, so do the tools
built on it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from PIL import Image
from tritonclient.utils import InferenceServerException

from contract.manifest import ImageInput, read_manifest
from service.app import create_app
from service.inference.images import decode_image, image_tensor
from service.settings import Settings
from tests.service.tiny_models import ANIMALS
from tests.service.v2_server import serve_in_thread


@pytest.fixture(scope="module")
def repo(model_repo: Path) -> Path:
    """The tiny models of ``conftest.py``."""
    return model_repo


@pytest.fixture(scope="module")
def url(repo: Path) -> Iterator[str]:
    settings = Settings(model_dir=repo, models=["vision", "text"], providers="cpu", max_delay_ms=2)
    with serve_in_thread(create_app(settings)) as url:
        yield url


@pytest.fixture()
def client(url: str) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url, network_timeout=30)
    yield client
    client.close()


def _direct(repo: Path, model: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(repo / model / "1" / "model.onnx"))
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, feeds), strict=True))


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("vision") and client.is_model_ready("vision", "1")
    assert not client.is_model_ready("vision", "2")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    meta = client.get_model_metadata("vision")
    assert meta["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 3, 32, 32]}]
    assert [o["name"] for o in meta["outputs"]] == ["animal", "color", "embedding"]
    assert client.get_model_config("vision")["max_batch_size"] > 0


@pytest.mark.parametrize("binary", [True, False])
def test_infer_matches_onnxruntime(
    client: triton.InferenceServerClient, repo: Path, binary: bool
) -> None:
    image = np.random.default_rng(0).normal(size=(3, 3, 32, 32)).astype(np.float32)
    tensor = triton.InferInput("image", list(image.shape), "FP32")
    tensor.set_data_from_numpy(image, binary_data=binary)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("animal", "embedding")]
    result = client.infer("vision", [tensor], outputs=outputs, request_id="abc")
    expected = _direct(repo, "vision", {"image": image})
    assert result.get_response()["id"] == "abc"
    for name in ("animal", "embedding"):
        np.testing.assert_allclose(result.as_numpy(name), expected[name], atol=1e-5)
    assert result.as_numpy("color") is None  # not requested: heads are selectable


def test_all_outputs_when_none_requested(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("image", [1, 3, 32, 32], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3, 32, 32), dtype=np.float32))
    result = client.infer("vision", [tensor])  # tritonclient then asks for binary outputs
    assert {o["name"] for o in result.get_response()["outputs"]} == {"animal", "color", "embedding"}
    assert result.as_numpy("color").shape == (1, 4)


def test_classification_extension(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("image", [2, 3, 32, 32], "FP32")
    tensor.set_data_from_numpy(np.random.default_rng(1).normal(size=(2, 3, 32, 32)).astype("f4"))
    output = triton.InferRequestedOutput("animal", class_count=2)
    top = client.infer("vision", [tensor], outputs=[output]).as_numpy("animal")
    assert top.shape == (2, 2)
    value, index, label = top[0, 0].decode().split(":")
    assert label == ANIMALS[int(index)] and float(value) >= float(top[0, 1].decode().split(":")[0])


def test_encoded_image_as_bytes_input(client: triton.InferenceServerClient, repo: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (50, 40), (180, 40, 90)).save(buffer, format="PNG")
    data = np.array([buffer.getvalue()], dtype=np.object_)
    tensor = triton.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(data)  # binary: the PNG file's bytes, as is
    result = client.infer("vision", [tensor], outputs=[triton.InferRequestedOutput("embedding")])
    spec = read_manifest(repo / "vision" / "1").input("image")
    assert isinstance(spec, ImageInput)
    batch = image_tensor(decode_image(buffer.getvalue(), 10**7), spec)[None]
    expected = _direct(repo, "vision", {"image": batch})["embedding"]
    np.testing.assert_allclose(result.as_numpy("embedding"), expected, atol=1e-5)


def test_text_as_bytes_input(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("input_ids", [2, 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[b"a great film"], [b"sad and awful"]], dtype=object))
    result = client.infer("text", [tensor], outputs=[triton.InferRequestedOutput("sentiment")])
    probabilities = result.as_numpy("sentiment")
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_errors_reach_the_client_as_messages(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("image", [1, 3, 8, 8], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3, 8, 8), dtype=np.float32))
    with pytest.raises(InferenceServerException, match="must be 32"):
        client.infer("vision", [tensor])
    with pytest.raises(InferenceServerException, match="no model named"):
        client.get_model_metadata("missing")
