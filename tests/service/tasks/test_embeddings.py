"""The embedding tasks over HTTP: rank results name their candidates; limits count candidates."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.service.media import b64, png


def test_rank_results_echo_each_candidates_text_and_id(client: TestClient) -> None:
    candidates = [{"type": "text", "text": "bad movie"},
                  {"type": "image", "image": b64(png()), "id": "photo-7"},
                  {"type": "text", "text": "a cat", "id": "t3"}]  # fmt: skip
    body = {"query": {"type": "text", "text": "a cat"}, "candidates": candidates}
    results = client.post("/v1/rank", json=body).json()["results"]
    by_index = {r["index"]: (r["id"], r["text"]) for r in results}
    assert by_index == {0: (None, "bad movie"), 1: ("photo-7", None), 2: ("t3", "a cat")}
    upload = client.post("/v1/rank/upload", data={"query_text": "a cat", "candidate_texts": ["x"]},
                         files=[("candidate_images", ("red.png", png(), "image/png"))])  # fmt: skip
    names = {r["index"]: (r["id"], r["text"]) for r in upload.json()["results"]}
    assert names == {0: (None, "x"), 1: ("red.png", None)}  # texts first, then the files


def test_the_rank_limit_counts_candidates_not_the_query(client: TestClient) -> None:
    query = {"type": "text", "text": "a cat"}
    eight = [{"type": "text", "text": f"cat {i}"} for i in range(8)]  # the fixture allows 8
    assert client.post("/v1/rank", json={"query": query, "candidates": eight}).status_code == 200
    nine = client.post("/v1/rank", json={"query": query, "candidates": [*eight, eight[0]]})
    assert nine.status_code == 422
    assert nine.json()["error"]["message"] == "9 candidates in one request; the limit is 8"


def test_similarity_counts_both_inputs_of_each_pair(client: TestClient) -> None:
    cat = {"type": "text", "text": "a cat"}
    five = client.post("/v1/similarity", json={"pairs": [{"a": cat, "b": cat}] * 5})
    assert five.status_code == 422 and "10 inputs (two per pair)" in five.json()["error"]["message"]
    assert client.post("/v1/similarity", json={"pairs": [{"a": cat, "b": cat}] * 4}).is_success
