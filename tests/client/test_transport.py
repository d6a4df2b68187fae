"""The client without a server: retries, error parsing, batching, images (httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import io
import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import numpy as np
import pytest
from mapping_client import AsyncClient, Client, Image, ServiceError, media
from mapping_client.transport import parse_retry_after
from PIL import Image as PILImage

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the client asked for (nothing really sleeps)."""
    waited: list[float] = []
    monkeypatch.setattr("mapping_client.transport.time.sleep", waited.append)
    return waited


def client(handler: Handler, **options: Any) -> Client:
    return Client("http://test", transport=httpx.MockTransport(handler), **options)


def envelope(status: int, type_: str, message: str, **extra: Any) -> httpx.Response:
    body = {"error": {"type": type_, "message": message, "request_id": "rid-1", **extra}}
    return httpx.Response(status, json=body)


def test_429_is_retried_after_the_fractional_retry_after(sleeps: list[float]) -> None:
    answers = [envelope(429, "overloaded", "queue full"),
               httpx.Response(429, headers={"Retry-After": "0.25"}, json={}),
               httpx.Response(200, json={"models": []})]  # fmt: skip
    with client(lambda request: answers.pop(0)) as c:
        assert c.models() == []
    assert sleeps == [0.5, 0.25]  # no Retry-After: the first backoff; then the header's 0.25 s


def test_503_backs_off_exponentially_then_raises_one_service_error(sleeps: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return envelope(503, "not_ready", "model vision is loading")

    with client(handler, retries=3, backoff_s=0.1) as c, pytest.raises(ServiceError) as info:
        c.models()
    assert sleeps == pytest.approx([0.1, 0.2, 0.4])
    error = info.value
    assert (error.status, error.type, error.request_id) == (503, "not_ready", "rid-1")
    assert error.message == "model vision is loading"


def test_the_longest_wait_is_capped(sleeps: list[float]) -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "3600"}),
               httpx.Response(200, json={"models": []})]  # fmt: skip
    with client(lambda request: answers.pop(0), max_wait_s=2.0) as c:
        c.models()
    assert sleeps == [2.0]


def test_readiness_is_not_retried_a_503_is_its_answer(sleeps: list[float]) -> None:
    body = {"ready": False, "models": {"vision": {"state": "loading", "version": 1,
                                                  "providers": []}}}  # fmt: skip
    with client(lambda request: httpx.Response(503, json=body)) as c:
        state = c.ready()
    assert state.ready is False and state.models["vision"].state == "loading"
    assert sleeps == []


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("garbage") is None
    later = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after(later) or 0) <= 30


@pytest.mark.parametrize(
    ("response", "status", "type_", "message", "request_id"),
    [
        (envelope(422, "invalid_input", "items.0.text: too long", limit=5), 422, "invalid_input",
         "items.0.text: too long", "rid-1"),
        (httpx.Response(400, json={"error": "unexpected datatype"}, headers={"X-Request-ID": "v2"}),
         400, "malformed_request", "unexpected datatype", "v2"),
        (httpx.Response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>"), 502,
         "bad_gateway", "<html><body><h1>502 Bad Gateway</h1></body></html>", None),
        (httpx.Response(404, json={"detail": "Not Found"}), 404, "not_found", "Not Found", None),
        (httpx.Response(500, content=b""), 500, "internal_error", "Internal Server Error", None),
    ],
)  # fmt: skip
def test_every_error_body_becomes_a_service_error(
    response: httpx.Response, status: int, type_: str, message: str, request_id: str | None
) -> None:
    with client(lambda request: response, retries=0) as c, pytest.raises(ServiceError) as info:
        c.models()
    error = info.value
    assert (error.status, error.type, error.message, error.request_id) == (
        status, type_, message, request_id,
    )  # fmt: skip
    assert str(status) in str(error)


def test_a_refused_connection_is_retried_then_a_service_error(sleeps: list[float]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client(handler, retries=2) as c, pytest.raises(ServiceError) as info:
        c.models()
    assert info.value.type == "connection_error" and info.value.status is None
    assert len(sleeps) == 2


def test_a_timeout_is_not_resent(sleeps: list[float]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("slow", request=request)

    with client(handler) as c, pytest.raises(ServiceError) as info:
        c.embed("a cat")
    assert info.value.type == "timeout" and len(calls) == 1 and sleeps == []


def test_the_api_key_goes_in_x_api_key() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-api-key"))
        return httpx.Response(200, json={"models": []})

    with client(handler, api_key="s3cret") as c:
        c.models()
    assert seen == ["s3cret"]


def fake_embed(limit: int, sizes: list[int]) -> Handler:
    """/v1/embed that enforces an item limit and answers each text's length as its vector."""

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        sizes.append(len(inputs))
        if len(inputs) > limit:
            message = f"{len(inputs)} items in one request; the limit is {limit}"
            return envelope(422, "invalid_input", message, limit=limit)
        return httpx.Response(200, json={"space": "semantic", "embeddings": [
            {"model": "text", "modality": "text", "dim": 1, "vector": [float(len(i["text"]))]}
            for i in inputs
        ]})  # fmt: skip

    return handler


def test_long_lists_are_split_to_the_item_limit_in_order() -> None:
    sizes: list[int] = []
    texts = ["x" * n for n in range(1, 151)]
    with client(fake_embed(64, sizes)) as c:
        vectors = c.embed(texts)
    assert sizes == [64, 64, 22]
    assert [v.vector[0] for v in vectors] == [float(n) for n in range(1, 151)]


def test_a_lower_limit_reported_by_the_service_is_learned() -> None:
    sizes: list[int] = []
    with client(fake_embed(10, sizes)) as c:
        vectors = c.embed(["x" * n for n in range(1, 26)])
        assert c.max_items == 10
    assert sizes == [25, 10, 10, 5]
    assert len(vectors) == 25


def test_rank_over_many_candidates_redoes_the_softmax_over_all() -> None:
    cosines = [0.1 * (i % 7) for i in range(20)]

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        texts = [c["text"] for c in body["candidates"]]
        assert len(texts) + 1 <= 8
        cos = [cosines[int(t)] for t in texts]
        exps = [math.exp(100 * c) for c in cos]
        results = [{"index": i, "cosine": c, "probability": e / sum(exps)}
                   for i, (c, e) in enumerate(zip(cos, exps, strict=True))]  # fmt: skip
        results.sort(key=lambda r: -r["cosine"])
        return httpx.Response(200, json={"space": "semantic", "temperature": 100.0,
                                         "results": results})  # fmt: skip

    with client(handler, max_items=8) as c:
        ranked = c.rank("query", [str(i) for i in range(20)], top_k=5)
    best = max(cosines)
    expected = [math.exp(100 * (x - best)) for x in cosines]
    assert [r.cosine for r in ranked] == sorted(cosines, reverse=True)[:5]
    assert ranked[0].probability == pytest.approx(expected[ranked[0].index] / sum(expected))
    assert ranked[0].text == str(ranked[0].index)


def test_the_async_client_shares_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    waited: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr("mapping_client.transport.asyncio.sleep", no_sleep)
    answers = [httpx.Response(503, headers={"Retry-After": "0.5"}),
               httpx.Response(200, json={"models": [{"name": "vision", "state": "ready",
                                                     "version": 1, "versions": [1]}]})]  # fmt: skip

    async def main() -> list[str]:
        transport = httpx.MockTransport(lambda request: answers.pop(0))
        async with AsyncClient("http://test", transport=transport) as c:
            return [m.name for m in await c.models()]

    assert asyncio.run(main()) == ["vision"]
    assert waited == [0.5]


def test_images_from_arrays_pil_and_bytes_become_encoded_files() -> None:
    array = np.zeros((8, 12, 3), np.uint8)
    array[:, :, 0] = 255
    for source in (array, PILImage.fromarray(array)):
        decoded = PILImage.open(io.BytesIO(Image(source).read()))
        assert decoded.size == (12, 8) and decoded.getpixel((0, 0))[:3] == (255, 0, 0)
    assert Image(b"\x89PNG...").read() == b"\x89PNG..."
    with pytest.raises(TypeError, match="uint8"):
        Image(array.astype(np.float32)).read()


def test_a_4d_array_is_a_batch() -> None:
    assert len(media.images(np.zeros((3, 4, 4, 3), np.uint8))) == 3
    assert len(media.images([b"a", b"b"])) == 2
    assert media.media(["a cat", b"img"])[0] == "a cat"
    assert isinstance(media.media(["a cat", b"img"])[1], Image)
