"""Every bad input is a 4xx in the one error envelope: never a 500, never a hang."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.inference.session import ModelRunner
from tests.service.media import b64, bomb_png, data_uri, encode, picture, png

GOOD = b64(png())


def _error(response: Any, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == type_
    assert error["message"] and error["request_id"] == response.headers["x-request-id"]
    return error


def _classify(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/classify", json={"items": [{"image": GOOD}], **body})


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post(
        "/v1/classify", content=b'{"items": [', headers={"content-type": "application/json"}
    )
    _error(response, 400, "malformed_request")


@pytest.mark.parametrize(
    ("body", "position"),
    # the offset of the byte where parsing stopped: the last one, the "x", the 201st "["
    [(b'{"items": [', 10), (b'{"items":\n  [{"text": x}]}', 22), (b"[" * 100_000, 201)],
    ids=["cut-short", "second-line", "nested-too-deep"],
)
def test_malformed_json_names_where(client: TestClient, body: bytes, position: int) -> None:
    response = client.post(
        "/v1/sentiment", content=body, headers={"content-type": "application/json"}
    )
    (error,) = _error(response, 400, "malformed_request")["errors"]
    assert error["type"] == "json_invalid" and error["loc"] == ["body", str(position)]


def test_invalid_utf8_in_a_json_body_is_400(client: TestClient) -> None:
    body = b'{"model": "text", "items": [{"text": "caf\xe9"}]}'
    response = client.post(
        "/v1/sentiment", content=body, headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"]["request_id"]


def test_invalid_utf8_in_a_multipart_text_is_4xx(client: TestClient) -> None:
    response = client.post("/v1/sentiment/upload", files=[("texts", (None, b"bad \xff\xfe text"))])
    _error(response, 400, "malformed_request")


@pytest.mark.parametrize(
    "body",
    [
        {"items": "not a list"},
        {"items": [{"image": 42}]},
        {"items": []},
        {"items": [{"image": GOOD}], "top_k": 0},
        {"items": [{"image": GOOD}], "unknown": 1},
        {"items": [{"image": GOOD, "extra": 1}]},
        {"model": "Bad Name!", "items": [{"image": GOOD}]},
    ],
)
def test_wrong_types_and_unknown_fields_are_422(client: TestClient, body: dict) -> None:
    error = _error(client.post("/v1/classify", json=body), 422, "invalid_input")
    assert error["errors"] and "input" not in error["errors"][0]


def test_unknown_model_head_and_space_are_404(client: TestClient) -> None:
    error = _error(_classify(client, model="nope"), 404, "not_found")
    assert error["model"] == "nope"
    _error(_classify(client, tasks=["nope"]), 404, "not_found")
    _error(client.get("/v1/models/nope"), 404, "not_found")
    body = {"space": "nope", "inputs": [{"type": "text", "text": "a"}]}
    _error(client.post("/v1/embed", json=body), 404, "not_found")
    _error(client.get("/no/such/path"), 404, "not_found")


def test_wrong_modality_for_a_model_is_422(client: TestClient) -> None:
    text_to_vision = client.post("/v1/classify", json={"items": [{"text": "a cat"}]})
    assert "image" in _error(text_to_vision, 422, "invalid_input")["message"]
    image_to_text = client.post("/v1/classify", json={"model": "text", "items": [{"image": GOOD}]})
    _error(image_to_text, 422, "invalid_input")
    fusion_half = client.post("/v1/classify", json={"model": "fusion", "items": [{"text": "a"}]})
    _error(fusion_half, 422, "invalid_input")
    no_heads_for_embed = {"model": "vision", "items": [{"text": "a cat"}]}
    _error(client.post("/v1/sentiment", json=no_heads_for_embed), 422, "invalid_input")


def test_bad_base64_is_422_and_non_image_data_uri_is_415(client: TestClient) -> None:
    _error(client.post("/v1/classify", json={"items": [{"image": "***not base64***"}]}),
           422, "invalid_input")  # fmt: skip
    body = {"items": [{"image": data_uri(b"hello", "text/plain")}]}
    _error(client.post("/v1/classify", json=body), 415, "unsupported_media_type")


@pytest.mark.parametrize(
    ("data", "status", "type_"),
    [
        (b"just some text, not a picture", 415, "unsupported_media_type"),
        (encode(picture(), "GIF"), 415, "unsupported_media_type"),
        (png()[:-40], 422, "invalid_input"),
        (encode(picture(), "JPEG")[:300], 422, "invalid_input"),
        (bomb_png(), 413, "payload_too_large"),
        (bomb_png(12_000, 12_000), 413, "payload_too_large"),
        (b"", 422, "invalid_input"),
    ],
    ids=["text", "gif", "truncated-png", "truncated-jpeg", "bomb", "over-limit", "empty"],
)
def test_bad_images_in_json_and_uploads(client: TestClient, data: bytes, status: int,
                                        type_: str) -> None:  # fmt: skip
    if data:
        _error(client.post("/v1/classify", json={"items": [{"image": b64(data)}]}), status, type_)
    upload = client.post("/v1/classify/upload", files=[("files", ("x.png", data, "image/png"))])
    _error(upload, status, type_)


def test_item_and_text_limits_are_422(client: TestClient) -> None:
    too_many = {"items": [{"image": GOOD}] * 9}  # the fixture allows 8
    assert "limit" in _error(client.post("/v1/classify", json=too_many), 422, "invalid_input")
    long_text = {"items": [{"text": "good " * 100}]}  # the fixture allows 200 characters
    _error(client.post("/v1/sentiment", json=long_text), 422, "invalid_input")
    for blank in ("", "   "):
        _error(
            client.post("/v1/sentiment", json={"items": [{"text": blank}]}), 422, "invalid_input"
        )
    upload = client.post("/v1/sentiment/upload", data={"texts": ["  "]})
    _error(upload, 422, "invalid_input")


def test_oversized_bodies_are_413(client: TestClient) -> None:
    big = b"x" * 2_100_000  # the fixture allows 2,000,000 bytes
    declared = client.post(
        "/v1/classify", content=big, headers={"content-type": "application/json"}
    )
    _error(declared, 413, "payload_too_large")

    def stream() -> Any:
        for _ in range(30):
            yield b"y" * 100_000

    streamed = client.post("/v1/classify", content=stream(),
                           headers={"content-type": "application/json"})  # fmt: skip
    _error(streamed, 413, "payload_too_large")
    upload = client.post("/v1/classify/upload", files=[("files", ("big.png", big, "image/png"))])
    _error(upload, 413, "payload_too_large")


def test_mismatched_upload_fields_are_422(client: TestClient) -> None:
    files = [("files", ("a.png", png(), "image/png"))]
    response = client.post("/v1/classify/upload", files=files,
                           data={"model": "fusion", "texts": ["a", "b"]})  # fmt: skip
    _error(response, 422, "invalid_input")
    _error(client.post("/v1/rank/upload", data={"candidate_texts": ["a"]}), 422, "invalid_input")


def test_wrong_method_is_405_in_the_envelope(client: TestClient) -> None:
    _error(client.get("/v1/classify"), 405, "method_not_allowed")


def test_a_full_queue_is_429_with_retry_after(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_run = ModelRunner.run

    def run(self: ModelRunner, items: list) -> list:
        time.sleep(0.3)
        return slow_run(self, items)

    monkeypatch.setattr(ModelRunner, "run", run)
    settings = {"max_queue_size": 2, "max_items": 2, "max_batch_size": 1, "retry_after_s": 2,
                "concurrent_batches": 1}  # fmt: skip
    with make_client(**settings) as small, ThreadPoolExecutor(1) as pool:
        body = {"items": [{"image": GOOD}] * 2}
        first = pool.submit(small.post, "/v1/classify", json=body)  # one item runs, one waits
        time.sleep(0.15)
        response = small.post("/v1/classify", json=body)
        _error(response, 429, "overloaded")
        assert response.headers["retry-after"] == "2"
        assert first.result().status_code == 200
