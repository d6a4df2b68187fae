"""The client against a live service on the real default models (vision, text)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from mapping_client import AsyncClient, Client, Image, ServiceError
from PIL import Image as PILImage

from tests.live_server import free_port, live_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client(server_url: str) -> Iterator[Client]:
    with Client(server_url) as c:
        yield c


def test_classify_a_path_a_pil_image_an_array_and_bytes(client: Client, samples: Path) -> None:
    coffee = samples / "coffee.png"
    pil = PILImage.open(coffee).convert("RGB")
    results = client.classify([coffee, pil, np.asarray(pil), coffee.read_bytes()], top_k=3)
    assert [r.top().label for r in results] == ["espresso"] * 4
    assert results[0].model == "vision" and results[0].version >= 1
    assert len(results[0].heads["imagenet"].labels or []) == 3
    assert client.classify(str(samples / "chelsea.png"))[0].top().label.endswith("cat")


def test_a_long_list_is_split_to_the_limit_and_keeps_its_order(
    server_url: str, samples: Path
) -> None:
    photos = [samples / "coffee.png", samples / "chelsea.png"] * 3
    with Client(server_url, max_items=4) as small:
        labels = [r.top().label for r in small.classify(photos)]
    assert labels[0::2] == ["espresso"] * 3 and all(x.endswith("cat") for x in labels[1::2])


def test_the_services_item_limit_is_learned_from_its_answer(server_url: str) -> None:
    with Client(server_url, max_items=500) as eager:
        vectors = eager.embed([f"text number {i}" for i in range(70)])
        assert eager.max_items == 64  # the service's MMS_MAX_ITEMS default, from its 422
    assert len(vectors) == 70 and vectors[69].dim == 384


def test_sentiment(client: Client) -> None:
    good, bad = client.sentiment(["What a wonderful, lovely day!", "This is awful and I hate it."])
    assert (good.label, bad.label) == ("positive", "negative")
    assert good.valence is not None and bad.valence is not None and good.valence > 1 > bad.valence
    assert good.valence_range == (-4.0, 4.0)


def test_embed_similarity_and_rank_across_modalities(client: Client, samples: Path) -> None:
    cat = Path(samples / "chelsea.png")
    text, image = client.embed(["a cat", cat])
    assert (text.model, image.model, text.modality, image.modality) == (
        "text",
        "vision",
        "text",
        "image",
    )
    assert text.dim == image.dim == 384
    cat_cat, cat_coffee = client.similarity(
        [("a cat", cat), ("a cat", Image(samples / "coffee.png"))]
    )
    assert cat_cat > cat_coffee
    ranked = client.rank(cat, ["a cup of coffee", "a cat", "a rocket launch"])
    assert ranked[0].text == "a cat" and ranked[0].index == 1
    assert sum(r.probability for r in ranked) == pytest.approx(1.0, abs=1e-4)
    assert len(client.rank(cat, ["a", "b", "c"], top_k=2)) == 2


def test_models_and_health(client: Client) -> None:
    models = {m.name: m for m in client.models()}
    assert {"vision", "text"} <= set(models)
    vision = client.model("vision")
    assert vision.state == "ready" and vision.providers and vision.version in vision.versions
    assert {h.name for h in vision.heads} == {"imagenet", "embedding"}
    assert next(h for h in vision.heads if h.name == "embedding").space == "semantic"
    assert client.live() is True
    ready = client.ready()
    assert ready.ready and ready.models["vision"].state == "ready"
    assert client.wait_ready(5).ready


def test_errors_carry_the_envelope(client: Client) -> None:
    with pytest.raises(ServiceError) as info:
        client.classify(b"this is a text file, not a photo")
    error = info.value
    assert (error.status, error.type) == (415, "unsupported_media_type")
    assert "not an image" in error.message and error.request_id
    with pytest.raises(ServiceError) as info:
        client.model("no-such-model")
    assert (info.value.status, info.value.type) == (404, "not_found")
    with pytest.raises(ServiceError) as info:
        client.sentiment(" ")
    assert info.value.status == 422 and info.value.type == "invalid_input"


def test_a_service_that_is_not_there_is_a_connection_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retries=1, backoff_s=0.01) as nobody, pytest.raises(ServiceError) as info:
        nobody.models()
    assert info.value.type == "connection_error" and info.value.status is None


def test_the_async_client(server_url: str, samples: Path) -> None:
    async def main() -> tuple[list[str], str]:
        async with AsyncClient(server_url) as client:
            photos = [samples / "coffee.png", samples / "chelsea.png"]
            results = await asyncio.gather(*(client.classify(p) for p in photos))
            ranked = await client.rank(Path(photos[1]), ["a dog", "a cat"])
            return [r[0].top().label for r in results], str(ranked[0].text)

    labels, best = asyncio.run(main())
    assert labels[0] == "espresso" and labels[1].endswith("cat") and best == "a cat"


def test_the_api_key(tmp_path: Path) -> None:
    with live_server(tmp_path / "service.log", MMS_API_KEY="s3cret") as url:
        with Client(url, retries=0) as anonymous, pytest.raises(ServiceError) as info:
            anonymous.models()
        assert (info.value.status, info.value.type) == (401, "unauthorized")
        with Client(url, api_key="s3cret") as keyed:
            assert {m.name for m in keyed.models()} >= {"vision", "text"}
