"""The gallery routes (``/v1/collections``) through ``TestClient`` on the tiny models."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.gallery import ModelRef
from tests.service.media import b64, png
from tests.service.tiny_models import DIM

RED, BLUE = png((220, 20, 20)), png((20, 20, 220))


@pytest.fixture(scope="module")
def api(make_client: Callable[..., Any]) -> Iterator[TestClient]:
    """An app with small gallery limits, so the limit tests stay small."""
    with make_client(
        max_items=8, gallery_max_batch_items=20, gallery_max_metadata_bytes=200,
        gallery_max_metadata_depth=2, gallery_max_id_length=70, gallery_max_top_k=50,
    ) as client:  # fmt: skip
        yield client


@pytest.fixture
def name(api: TestClient) -> Iterator[str]:
    """A fresh collection of the ``semantic`` space, deleted afterwards."""
    collection = f"c-{uuid.uuid4().hex[:8]}"
    assert api.post("/v1/collections", json={"name": collection}).status_code == 201
    yield collection
    api.delete(f"/v1/collections/{collection}")


def add(api: TestClient, name: str, *items: dict[str, Any]) -> Any:
    reply = api.post(f"/v1/collections/{name}/items", json={"items": list(items)})
    assert reply.status_code == 200, reply.text
    return reply.json()


def error(reply: Any, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    body: dict[str, Any] = reply.json()["error"]
    assert body["request_id"]
    return body


def test_a_collection_is_created_listed_fetched_and_deleted(api: TestClient) -> None:
    body = {"name": "photos-1", "space": "semantic", "description": "mine"}
    made = api.post("/v1/collections", json=body)
    assert made.status_code == 201
    info = made.json()
    assert (info["name"], info["space"], info["dimension"], info["count"]) == (
        "photos-1", "semantic", DIM, 0,
    )  # fmt: skip
    assert {m["name"] for m in info["models"]} == {"vision", "text"} and info["created"]
    assert "photos-1" in {c["name"] for c in api.get("/v1/collections").json()["collections"]}
    assert api.get("/v1/collections/photos-1").json()["description"] == "mine"
    assert error(api.post("/v1/collections", json=body), 409)["type"] == "conflict"
    assert api.delete("/v1/collections/photos-1").json() == {"deleted": True, "name": "photos-1"}
    assert error(api.get("/v1/collections/photos-1"), 404)["type"] == "not_found"
    assert error(api.delete("/v1/collections/photos-1"), 404)["type"] == "not_found"


@pytest.mark.parametrize("bad", ["Bad Name!", "-x", "a" * 65, ""])
def test_a_bad_collection_name_is_a_422_that_says_so(api: TestClient, bad: str) -> None:
    assert "name" in error(api.post("/v1/collections", json={"name": bad}), 422)["message"]


def test_an_unknown_space_is_a_404(api: TestClient) -> None:
    reply = api.post("/v1/collections", json={"name": "s", "space": "shapes"})
    assert "no embedding space 'shapes'" in error(reply, 404)["message"]


def test_items_are_added_with_content_ids_and_upserted(api: TestClient, name: str) -> None:
    out = add(api, name, {"image": b64(RED), "metadata": {"n": 1}}, {"text": "a red cat"},
              {"id": "mine", "text": "a dog", "metadata": {"n": 3}})  # fmt: skip
    assert out["ids"] == [hashlib.sha256(RED).hexdigest(),
                          hashlib.sha256(b"a red cat").hexdigest(), "mine"]  # fmt: skip
    assert out["count"] == 3 and out["model"]["name"] == "vision"
    again = add(api, name, {"image": b64(RED), "metadata": {"n": 5}})
    assert again["count"] == 3
    item = api.get(f"/v1/collections/{name}/items/{out['ids'][0]}").json()
    assert item == {"id": out["ids"][0], "metadata": {"n": 5}}
    with_vector = api.get(f"/v1/collections/{name}/items/mine", params={"with_vector": True})
    assert len(with_vector.json()["vector"]) == DIM
    assert api.get(f"/v1/collections/{name}/count").json() == {"count": 3}
    assert error(api.get(f"/v1/collections/{name}/items/nope"), 404)["type"] == "not_found"


def test_uploads_add_files_with_their_names(api: TestClient, name: str) -> None:
    files = [("files", ("red.png", RED, "image/png")), ("files", ("blue.png", BLUE, "image/png"))]
    reply = api.post(f"/v1/collections/{name}/items/upload", files=files,
                     data={"metadata": json.dumps({"album": "x"})})  # fmt: skip
    assert reply.status_code == 200, reply.text
    ids = reply.json()["ids"]
    meta = api.get(f"/v1/collections/{name}/items/{ids[1]}").json()["metadata"]
    assert meta == {"album": "x", "filename": "blue.png"}
    bad = api.post(f"/v1/collections/{name}/items/upload", files=files[:1],
                   data={"metadata": "[1]"})  # fmt: skip
    assert "metadata must be a JSON object" in error(bad, 422)["message"]


def search(api: TestClient, name: str, query: dict[str, Any], **extra: Any) -> Any:
    return api.post(f"/v1/collections/{name}/search", json={"query": query, **extra})


def test_search_by_text_image_item_and_vector(api: TestClient, name: str) -> None:
    ids = add(api, name, {"image": b64(RED), "metadata": {"n": 1, "tag": "r"}},
              {"image": b64(BLUE), "metadata": {"n": 2, "tag": "b"}},
              {"text": "a blue dog", "metadata": {"n": 3, "tag": "b"}})["ids"]  # fmt: skip
    by_image = search(api, name, {"type": "image", "image": b64(BLUE)}).json()
    assert by_image["results"][0]["id"] == ids[1] and by_image["results"][0]["score"] > 0.99
    assert by_image["model"] == {"name": "vision", "version": 1}
    scores = [h["score"] for h in by_image["results"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    by_text = search(api, name, {"type": "text", "text": "a blue dog"}, top_k=1).json()
    assert by_text["results"][0]["id"] == ids[2] and by_text["model"]["name"] == "text"
    by_item = search(api, name, {"type": "item", "id": ids[0]}, top_k=1).json()
    assert by_item["results"][0]["id"] == ids[0]
    vector = api.get(f"/v1/collections/{name}/items/{ids[0]}?with_vector=true").json()["vector"]
    hit = search(api, name, {"type": "vector", "vector": vector}, top_k=1, with_vectors=True)
    assert hit.json()["results"][0]["id"] == ids[0] and hit.json()["model"] is None
    assert len(hit.json()["results"][0]["vector"]) == DIM
    bare = search(api, name, {"type": "text", "text": "cat"}, with_metadata=False).json()
    assert all("metadata" not in h for h in bare["results"])
    page = search(api, name, {"type": "image", "image": b64(BLUE)}, top_k=1, offset=1).json()
    assert page["results"][0]["id"] == by_image["results"][1]["id"]


def test_search_filters_by_match_any_and_range(api: TestClient, name: str) -> None:
    add(api, name, *({"text": f"text {i}", "metadata": {"n": i, "tag": "ab"[i % 2]}}
                     for i in range(6)))  # fmt: skip
    text = {"type": "text", "text": "text"}

    def ns(flt: dict[str, Any]) -> set[int]:
        reply = search(api, name, text, filter=flt)
        assert reply.status_code == 200, reply.text
        return {h["metadata"]["n"] for h in reply.json()["results"]}

    assert ns({"must": [{"key": "tag", "match": "a"}]}) == {0, 2, 4}
    assert ns({"must": [{"key": "n", "any": [1, 5]}]}) == {1, 5}
    assert ns({"must": [{"key": "n", "range": {"gte": 2, "lt": 4}}]}) == {2, 3}
    assert ns({"must_not": [{"key": "tag", "match": "a"}]}) == {1, 3, 5}
    bad = search(api, name, text, filter={"must": [{"key": "n", "match": True}]})
    assert error(bad, 422)["type"] == "invalid_input"
    form = api.post(
        f"/v1/collections/{name}/search/upload",
        data={"text": "text", "filter": '{"must": [{"key": "n", "match": 1}]}'},
    )
    assert [h["metadata"]["n"] for h in form.json()["results"]] == [1]
    malformed = api.post(f"/v1/collections/{name}/search/upload",
                         data={"text": "x", "filter": '{"n": 1}'})  # fmt: skip
    assert error(malformed, 422)["type"] == "invalid_filter"


def test_search_upload_takes_an_image_file(api: TestClient, name: str) -> None:
    ids = add(api, name, {"image": b64(RED)}, {"image": b64(BLUE)})["ids"]
    reply = api.post(
        f"/v1/collections/{name}/search/upload",
        files={"file": ("q.png", BLUE, "image/png")},
        data={"top_k": "1"},
    )
    assert reply.status_code == 200, reply.text
    assert [h["id"] for h in reply.json()["results"]] == [ids[1]]
    neither = api.post(f"/v1/collections/{name}/search/upload", data={"top_k": "1"})
    assert "exactly one of file and text" in error(neither, 422)["message"]


def test_items_are_deleted_by_ids_and_by_filter(api: TestClient, name: str) -> None:
    ids = add(api, name, *({"text": f"t{i}", "metadata": {"n": i}} for i in range(4)))["ids"]
    path = f"/v1/collections/{name}/items/delete"
    assert api.post(path, json={"ids": [ids[0], "nope"]}).json() == {"deleted": 1, "count": 3}
    gone = api.post(path, json={"filter": {"must": [{"key": "n", "range": {"gte": 2}}]}})
    assert gone.json() == {"deleted": 2, "count": 1}
    assert error(api.post(path, json={}), 422)["type"] == "invalid_input"
    assert error(api.post(path, json={"filter": {}}), 422)["type"] == "invalid_input"


def test_bad_items_are_4xx_in_the_envelope(api: TestClient, name: str) -> None:
    path = f"/v1/collections/{name}/items"

    def post(*items: dict[str, Any]) -> Any:
        return api.post(path, json={"items": list(items)})

    assert error(post({"text": "x", "image": b64(RED)}), 422)["type"] == "invalid_input"
    assert error(post({"metadata": {}}), 422)["type"] == "invalid_input"
    assert error(post(*({"text": f"t{i}"} for i in range(21))), 413)["message"].endswith("20")
    assert error(post({"text": "x", "metadata": {"a": "b" * 300}}), 413)["type"]
    assert (
        "deeper" in error(post({"text": "x", "metadata": {"a": {"b": {"c": 1}}}}), 422)["message"]
    )
    assert error(post({"id": "i" * 71, "text": "x"}), 422)["type"] == "invalid_input"
    assert error(post({"image": "not base64!"}), 422)["type"] == "invalid_input"
    assert error(api.post("/v1/collections/nope/items", json={"items": [{"text": "x"}]}), 404)
    assert api.get(f"/v1/collections/{name}/count").json() == {"count": 0}


def test_bad_queries_are_4xx_in_the_envelope(api: TestClient, name: str) -> None:
    add(api, name, {"text": "a cat"})
    wrong_dim = search(api, name, {"type": "vector", "vector": [1.0] * (DIM + 1)})
    assert f"holds {DIM}-d vectors, got {DIM + 1}-d" in error(wrong_dim, 422)["message"]
    assert error(search(api, name, {"type": "item", "id": "nope"}), 404)["type"] == "not_found"
    assert error(search(api, name, {"type": "text", "text": "x"}, top_k=51), 422)
    assert error(search(api, name, {"type": "sound", "x": 1}), 422)["type"] == "invalid_input"
    missing = api.post("/v1/collections/nope/search", json={"query": {"type": "text", "text": "x"}})
    assert error(missing, 404)["type"] == "not_found"


def test_another_model_version_gets_a_409_that_says_how_to_reembed(
    api: TestClient, name: str
) -> None:
    add(api, name, {"text": "a cat"})
    store = api.app.state.gallery  # type: ignore[attr-defined]
    info = store.get_collection(name)
    other = f"{name}-v9"
    spec = type(info.spec)(other, DIM, "semantic", {"vision": 9, "text": 9})
    store.create_collection(spec)
    try:
        reply = search(api, other, {"type": "text", "text": "a cat"})
        body = error(reply, 409)
        assert (
            body["type"] == "model_version_mismatch"
            and "create a new collection" in body["message"]
        )
        assert error(api.post(f"/v1/collections/{other}/items", json={"items": [{"text": "x"}]}),
                     409)["type"] == "model_version_mismatch"  # fmt: skip
        assert store.count(other) == 0 and ModelRef("text", 9) != ModelRef("text", 1)
    finally:
        store.delete_collection(other)


def test_the_gallery_needs_the_api_key(make_client: Callable[..., Any]) -> None:
    with make_client(api_key="k") as client:
        assert error(client.get("/v1/collections"), 401)["type"] == "unauthorized"
        assert client.get("/v1/collections", headers={"X-API-Key": "k"}).status_code == 200


def test_the_gallery_routes_are_in_openapi(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path in ("/v1/collections", "/v1/collections/{name}/items/upload",
                 "/v1/collections/{name}/search", "/v1/collections/{name}/search/upload",
                 "/v1/collections/{name}/items/{item_id}"):  # fmt: skip
        assert path in paths


def test_a_second_app_on_the_same_directory_fails_at_start(
    make_client: Callable[..., Any], tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        make_client(gallery_data_dir=tmp_path),
        pytest.raises(Exception, match="in use by another process"),
        make_client(gallery_data_dir=tmp_path),
    ):
        pass
    assert "Qdrant server" in caplog.text


def test_the_routes_work_the_same_on_the_qdrant_backend(
    make_client: Callable[..., Any], tmp_path: Any
) -> None:
    """The server backend on qdrant-client's in-process mode (no Qdrant server is run here)."""
    from tests.service.gallery.conftest import open_backend

    with make_client(gallery_backend="qdrant", gallery_qdrant_url="http://127.0.0.1:9") as api:
        state = api.app.state  # type: ignore[attr-defined]
        state.gallery.close()  # the one the lifespan opened, towards no server
        state.gallery = open_backend("qdrant", tmp_path)
        assert api.post("/v1/collections", json={"name": "q"}).status_code == 201
        ids = add(api, "q", {"image": b64(RED), "metadata": {"n": 1}},
                  {"image": b64(BLUE), "metadata": {"n": 2}})["ids"]  # fmt: skip
        hits = search(api, "q", {"type": "image", "image": b64(BLUE)}).json()["results"]
        assert [h["id"] for h in hits] == [ids[1], ids[0]]
        only = search(api, "q", {"type": "image", "image": b64(BLUE)},
                      filter={"must": [{"key": "n", "match": 1}]}).json()["results"]  # fmt: skip
        assert [h["id"] for h in only] == [ids[0]]
        gone = api.post("/v1/collections/q/items/delete", json={"ids": [ids[0]]}).json()
        assert gone == {"deleted": 1, "count": 1}
        assert error(api.get("/v1/collections/q/items/nope"), 404)["type"] == "not_found"
