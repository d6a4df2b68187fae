"""Dynamic batching through HTTP: concurrent requests share batches and get their own answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app
from service.settings import Settings
from tests.service.media import b64, png

pytestmark = pytest.mark.anyio

TEXTS = ["good", "a very good great film", "bad", "awful sad terrible movie was not good",
         "love it", "the cat", "hate", "what color is the dog"]  # fmt: skip


@pytest.fixture
async def served(model_repo: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with its lifespan running, models loaded, and an in-process async client."""
    settings = Settings(
        model_dir=model_repo, providers="cpu", max_batch_size=8, max_delay_ms=50,
        batch_autotune=False,  # these tests are about the batcher, not the batch limit
    )  # fmt: skip
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.engine.wait_loaded(30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield app, client


async def _post_all(client: httpx.AsyncClient, requests: list[tuple[str, dict]]) -> list[Any]:
    responses = await asyncio.gather(*(client.post(path, json=body) for path, body in requests))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.json() for r in responses]


async def test_concurrent_requests_form_batches_with_answers_matched_to_requests(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = served
    images = [b64(png((30 * i, 255 - 30 * i, 60), (40 + 4 * i, 40))) for i in range(8)]
    one_by_one = [
        (await client.post("/v1/classify", json={"items": [{"image": image}]})).json()
        for image in images
    ]
    stats = app.state.engine.resolve("vision").stats
    before = stats.batches
    together = await _post_all(
        client, [("/v1/classify", {"items": [{"image": i}]}) for i in images]
    )
    assert stats.largest_batch > 1
    assert stats.batches - before < len(images)
    for alone, batched in zip(one_by_one, together, strict=True):
        for head in ("animal", "color"):
            a = alone["results"][0]["heads"][head]["labels"]
            b = batched["results"][0]["heads"][head]["labels"]
            assert [x["label"] for x in a] == [x["label"] for x in b]
            assert [x["score"] for x in a] == pytest.approx([x["score"] for x in b], abs=1e-5)
    metrics = (await client.get("/metrics")).text
    assert 'mms_batch_size_count{model="vision"}' in metrics


async def test_texts_of_different_lengths_share_a_padded_batch_across_endpoints(
    served: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = served
    alone = [
        (await client.post("/v1/embed", json={"inputs": [{"type": "text", "text": t}]})).json()
        for t in TEXTS
    ]
    stats = app.state.engine.resolve("text").stats
    before_batches, before_items = stats.batches, stats.items
    embeds = [("/v1/embed", {"inputs": [{"type": "text", "text": t}]}) for t in TEXTS]
    sentiments = [("/v1/sentiment", {"items": [{"text": t}]}) for t in TEXTS]
    results = await _post_all(client, embeds + sentiments)
    assert stats.items - before_items == 2 * len(TEXTS)
    assert stats.batches - before_batches < 2 * len(TEXTS)
    for single, batched in zip(alone, results[: len(TEXTS)], strict=True):
        assert batched["embeddings"][0]["vector"] == pytest.approx(
            single["embeddings"][0]["vector"], abs=1e-5
        )
    labels = {r["results"][0]["label"] for r in results[len(TEXTS) :]}
    assert labels <= {"negative", "neutral", "positive"}


async def test_shutdown_lets_queued_requests_finish(model_repo: Path) -> None:
    settings = Settings(
        model_dir=model_repo, providers="cpu", max_delay_ms=1000, batch_autotune=False
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        async with app.router.lifespan_context(app):
            engine = app.state.engine
            await engine.wait_loaded(30)
            body = {"items": [{"text": "good"}]}
            # A request still "decoding" makes the batcher hold its batch for max_delay, so all
            # three are queued, none answered, when the shutdown starts (whatever the load).
            text = engine.resolve("text")
            with text.preparing():
                pending = [asyncio.create_task(client.post("/v1/sentiment", json=body))
                           for _ in range(3)]  # fmt: skip
                for _ in range(400):  # until all three wait in the batcher
                    if text.pending == 3:
                        break
                    await asyncio.sleep(0.005)
                assert text.pending == 3 and text.stats.items == 0
        responses = await asyncio.gather(*pending)  # the lifespan has shut down by now
        assert [r.status_code for r in responses] == [200, 200, 200], responses[0].text
        assert [m.stats for m in app.state.engine.models()] == [None] * 3  # batchers stopped


async def test_short_texts_are_tokenised_on_the_event_loop_images_and_long_texts_in_a_thread(
    served: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.inference import served as served_module

    _, client = served
    hops: list[str] = []
    to_thread = asyncio.to_thread

    async def counted(func: Any, /, *args: Any) -> Any:
        hops.append("thread")
        return await to_thread(func, *args)

    monkeypatch.setattr(served_module.asyncio, "to_thread", counted)
    short = await client.post("/v1/sentiment", json={"items": [{"text": "good"}]})
    assert short.status_code == 200 and hops == []  # no hop for a few words
    texts = [{"text": "good " * 39}] * 3  # 585 characters in all
    assert served_module.INLINE_TEXT_CHARS < 585
    long = await client.post("/v1/sentiment", json={"items": texts})
    assert long.status_code == 200 and hops == ["thread"]
    image = await client.post("/v1/classify", json={"items": [{"image": b64(png())}]})
    assert image.status_code == 200 and hops == ["thread", "thread"]
