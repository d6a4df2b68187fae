"""End to end on the real ``vision`` model through Triton's client: a photo in, ImageNet out."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
from PIL import Image

from contract.manifest import ImageInput, read_manifest
from service.app import create_app
from service.inference.images import image_input
from service.settings import Settings
from tests.service.api.v2.server import serve_in_thread

pytestmark = pytest.mark.e2e

MODELS_DIR = Path(os.environ.get("MMS_MODEL_DIR", Path(__file__).parents[2] / "models"))


@pytest.fixture(scope="module")
def client() -> Iterator[triton.InferenceServerClient]:
    if not (MODELS_DIR / "vision").is_dir():
        pytest.skip(f"the default model `vision` is not built in {MODELS_DIR}; run `make models`")
    with serve_in_thread(create_app(Settings(model_dir=MODELS_DIR, models=["vision"]))) as url:
        client = triton.InferenceServerClient(url, network_timeout=60)
        yield client
        client.close()


@pytest.fixture(scope="module")
def chelsea() -> bytes:
    data = pytest.importorskip("skimage.data")
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(data.chelsea())).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def _image_bytes(jpeg: bytes) -> triton.InferInput:
    tensor = triton.InferInput("image", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([jpeg], dtype=np.object_))
    return tensor


def test_chelsea_is_a_cat_through_the_classification_extension(
    client: triton.InferenceServerClient, chelsea: bytes
) -> None:
    output = triton.InferRequestedOutput("imagenet", class_count=3)
    top = client.infer("vision", [_image_bytes(chelsea)], outputs=[output]).as_numpy("imagenet")
    value, _index, label = top[0, 0].decode().split(":", 2)
    assert "cat" in label.lower(), top
    assert float(value) > 0.2


def test_raw_tensor_and_encoded_image_give_the_same_heads(
    client: triton.InferenceServerClient, chelsea: bytes
) -> None:
    meta = client.get_model_metadata("vision")
    name = meta["inputs"][0]["name"]
    spec = read_manifest(MODELS_DIR / "vision" / meta["versions"][0]).input("image")
    assert isinstance(spec, ImageInput)
    pixels = image_input(chelsea, spec, 10**8)[None]  # the service's own transform
    raw = triton.InferInput(name, list(pixels.shape), "FP32")
    raw.set_data_from_numpy(pixels)
    by_tensor = client.infer("vision", [raw])
    by_bytes = client.infer("vision", [_image_bytes(chelsea)])
    for output in meta["outputs"]:
        np.testing.assert_allclose(
            by_tensor.as_numpy(output["name"]), by_bytes.as_numpy(output["name"]), atol=1e-4
        )
