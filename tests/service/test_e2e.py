"""End to end on the real default models (``make models``): photos, ranking, sentiment via HTTP."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.app import create_app
from service.settings import Settings
from tests.service.media import b64

pytestmark = pytest.mark.e2e

MODELS_DIR = Path(os.environ.get("MMS_MODEL_DIR", Path(__file__).parents[2] / "models"))
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut")


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    missing = [n for n in ("vision", "text") if not (MODELS_DIR / n).is_dir()]
    if missing:
        pytest.skip(f"default models {missing} are not built in {MODELS_DIR}; run `make models`")
    app = create_app(Settings(model_dir=MODELS_DIR, models=["vision", "text"]))
    with TestClient(app) as test_client:
        test_client.portal.call(app.state.engine.wait_loaded, 300)
        assert test_client.get("/health/ready").status_code == 200
        yield test_client


@pytest.fixture(scope="module")
def photos() -> dict[str, str]:
    data = pytest.importorskip("skimage.data")
    encoded = {}
    for name in PHOTOS:
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(getattr(data, name)())).save(buffer, format="PNG")
        encoded[name] = b64(buffer.getvalue())
    return encoded


def test_chelsea_is_a_cat(client: TestClient, photos: dict[str, str]) -> None:
    body = {"items": [{"image": photos["chelsea"]}], "top_k": 3}
    response = client.post("/v1/classify", json=body)
    assert response.status_code == 200, response.text
    heads = response.json()["results"][0]["heads"]
    top = next(iter(heads.values()))["labels"][0]["label"]
    assert "cat" in top.lower(), heads


def test_a_cat_finds_chelsea_among_the_sample_photos(
    client: TestClient, photos: dict[str, str]
) -> None:
    candidates = [{"type": "image", "image": photos[name]} for name in PHOTOS]
    body = {"query": {"type": "text", "text": "a cat"}, "candidates": candidates}
    response = client.post("/v1/rank", json=body)
    assert response.status_code == 200, response.text
    best = response.json()["results"][0]
    assert PHOTOS[best["index"]] == "chelsea", response.json()


def test_sentiment_of_obvious_sentences(client: TestClient) -> None:
    texts = ["I love this, it is wonderful and makes me so happy!",
             "This is terrible, I hate it, the worst day of my life."]  # fmt: skip
    response = client.post("/v1/sentiment", json={"items": [{"text": t} for t in texts]})
    assert response.status_code == 200, response.text
    positive, negative = response.json()["results"]
    assert positive["label"] == "positive" and negative["label"] == "negative"
    assert positive["valence"] > 0 > negative["valence"]
