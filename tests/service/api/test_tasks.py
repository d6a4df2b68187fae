"""The task endpoints over HTTP: classify, sentiment, embed, similarity, rank (JSON and uploads)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.service.media import b64, data_uri, encode, picture, png
from tests.service.tiny_models import ANIMALS, COLORS, SENTIMENT

RED, BLUE = png((220, 20, 20)), png((20, 20, 220), (64, 30))


def _heads(response_json: dict) -> list[dict]:
    return [r["heads"] for r in response_json["results"]]


def test_classify_base64_and_data_uri_give_the_same_answer(client: TestClient) -> None:
    body = {"items": [{"image": b64(RED)}, {"image": data_uri(RED)}, {"image": b64(BLUE)}]}
    response = client.post("/v1/classify", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["model"] == "vision" and payload["version"] == 1
    heads = _heads(payload)
    assert set(heads[0]) == {"animal", "color"}  # embeddings are not classification heads
    assert heads[0] == heads[1] and heads[0] != heads[2]
    animal = heads[0]["animal"]["labels"]
    assert [lab["label"] for lab in animal] == sorted(
        ANIMALS, key=lambda a: -next(x["score"] for x in animal if x["label"] == a)
    )
    assert sum(lab["score"] for lab in animal) == pytest.approx(1.0, abs=1e-5)


def test_classify_tasks_and_top_k_pick_heads_and_labels(client: TestClient) -> None:
    body = {"items": [{"image": b64(RED)}], "tasks": ["color"], "top_k": 2}
    heads = _heads(client.post("/v1/classify", json=body).json())[0]
    assert list(heads) == ["color"]
    assert len(heads["color"]["labels"]) == 2
    assert {lab["label"] for lab in heads["color"]["labels"]} <= set(COLORS)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG"])
def test_classify_reads_jpeg_webp_and_png(client: TestClient, fmt: str) -> None:
    data = encode(picture().convert("RGBA") if fmt == "PNG" else picture(), fmt)
    response = client.post("/v1/classify", json={"items": [{"image": b64(data)}]})
    assert response.status_code == 200, response.text


def test_classify_upload_matches_json(client: TestClient) -> None:
    files = [("files", ("red.png", RED, "image/png")), ("files", ("blue.png", BLUE, "image/png"))]
    upload = client.post("/v1/classify/upload", files=files, data={"top_k": "2"})
    assert upload.status_code == 200, upload.text
    body = {"items": [{"image": b64(RED)}, {"image": b64(BLUE)}], "top_k": 2}
    as_json = client.post("/v1/classify", json=body)
    assert _heads(upload.json()) == _heads(as_json.json())


def test_classify_text_and_fusion_models(client: TestClient) -> None:
    text = client.post("/v1/classify", json={"model": "text", "items": [{"text": "good film"}]})
    heads = _heads(text.json())[0]
    assert set(heads) == {"sentiment", "valence"}
    assert heads["valence"]["type"] == "regression" and -4 <= heads["valence"]["value"] <= 4
    fusion = client.post("/v1/classify", json={
        "model": "fusion", "items": [{"image": b64(RED), "text": "what color is it"}]})  # fmt: skip
    assert fusion.status_code == 200, fusion.text
    assert {lab["label"] for lab in _heads(fusion.json())[0]["answer"]["labels"]} == {"yes", "no"}
    files = [("files", ("red.png", RED, "image/png"))]
    upload = client.post("/v1/classify/upload", files=files,
                         data={"model": "fusion", "texts": ["what color is it"]})  # fmt: skip
    assert _heads(upload.json()) == _heads(fusion.json())


def test_sentiment_label_probabilities_and_valence(client: TestClient) -> None:
    texts = ["good great wonderful", "awful terrible sad"]
    response = client.post("/v1/sentiment", json={"items": [{"text": t} for t in texts]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    for result in results:
        probs = result["probabilities"]
        assert list(probs) == SENTIMENT and sum(probs.values()) == pytest.approx(1, abs=1e-5)
        assert result["label"] == max(probs, key=probs.__getitem__)
        assert -4 <= result["valence"] <= 4 and result["modalities"] == ["text"]
    assert results[0] != results[1]
    upload = client.post("/v1/sentiment/upload", data={"texts": texts})
    assert upload.json()["results"] == results


def test_sentiment_with_an_image_on_a_model_that_takes_one(client: TestClient) -> None:
    body = {"model": "fusion", "items": [{"text": "good", "image": b64(RED)}]}
    result = client.post("/v1/sentiment", json=body).json()["results"][0]
    assert result["modalities"] == ["text", "image"] and result["valence"] is None
    assert set(result["probabilities"]) == {"yes", "no"}


def test_embed_places_images_and_texts_in_one_space(client: TestClient) -> None:
    inputs = [{"type": "text", "text": "a cat"}, {"type": "image", "image": b64(RED)}]
    response = client.post("/v1/embed", json={"inputs": inputs})
    assert response.status_code == 200, response.text
    embeddings = response.json()["embeddings"]
    assert [(e["model"], e["modality"], e["dim"]) for e in embeddings] == [
        ("text", "text", 8), ("vision", "image", 8)]  # fmt: skip
    for e in embeddings:
        assert np.linalg.norm(e["vector"]) == pytest.approx(1.0, abs=1e-4)
    upload = client.post("/v1/embed/upload", data={"texts": ["a cat"]},
                         files=[("files", ("red.png", RED, "image/png"))])  # fmt: skip
    assert upload.json()["embeddings"] == embeddings


def test_similarity_of_every_modality_pair(client: TestClient) -> None:
    cat, red = {"type": "text", "text": "a cat"}, {"type": "image", "image": b64(RED)}
    pairs = [{"a": cat, "b": cat}, {"a": red, "b": red}, {"a": cat, "b": red}]
    scores = client.post("/v1/similarity", json={"pairs": pairs}).json()["scores"]
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and scores[1] == pytest.approx(1.0, abs=1e-5)
    assert -1.0 <= scores[2] < 0.999


def test_rank_sorts_candidates_by_cosine_with_softmax(client: TestClient) -> None:
    query = {"type": "text", "text": "a cat"}
    candidates = [{"type": "text", "text": "bad movie"}, {"type": "text", "text": "a cat"},
                  {"type": "image", "image": b64(RED)}]  # fmt: skip
    response = client.post("/v1/rank", json={"query": query, "candidates": candidates,
                                             "temperature": 10})  # fmt: skip
    assert response.status_code == 200, response.text
    payload = response.json()
    results = payload["results"]
    assert payload["temperature"] == 10 and results[0]["index"] == 1
    assert results[0]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert [r["cosine"] for r in results] == sorted((r["cosine"] for r in results), reverse=True)
    assert sum(r["probability"] for r in results) == pytest.approx(1.0, abs=1e-6)
    top = client.post("/v1/rank", json={"query": query, "candidates": candidates, "top_k": 1})
    assert len(top.json()["results"]) == 1 and top.json()["temperature"] == 100


def test_rank_upload_images_against_a_text_query(client: TestClient) -> None:
    files = [("candidate_images", ("red.png", RED, "image/png")),
             ("candidate_images", ("blue.png", BLUE, "image/png"))]  # fmt: skip
    response = client.post("/v1/rank/upload", data={"query_text": "a cat"}, files=files)
    assert response.status_code == 200, response.text
    as_json = client.post("/v1/rank", json={
        "query": {"type": "text", "text": "a cat"},
        "candidates": [{"type": "image", "image": b64(RED), "id": "red.png"},
                       {"type": "image", "image": b64(BLUE), "id": "blue.png"}],
    })  # fmt: skip
    assert response.json() == as_json.json()
    assert {r["id"] for r in response.json()["results"]} == {"red.png", "blue.png"}
