"""The gallery through the client and the command line, against a live service.

Marked ``gallery``: they exercise the gallery routes (/v1/collections...) of the real service,
on the embedded store in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mapping_client import AsyncClient, Client, ServiceError
from mapping_client.cli import index as index_command
from mapping_client.cli.main import main

pytestmark = [pytest.mark.e2e, pytest.mark.gallery]
PHOTOS = ("chelsea.png", "coffee.png", "rocket.jpg")


@pytest.fixture
def client(server_url: str) -> Iterator[Client]:
    with Client(server_url) as c:
        yield c


@pytest.fixture
def collection(client: Client) -> Iterator[str]:
    """A fresh, empty collection, deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    client.create_collection(name, description="made by a test")
    yield name
    with contextlib.suppress(ServiceError):
        client.delete_collection(name)


@pytest.fixture
def folder(tmp_path: Path, samples: Path) -> Path:
    """Three photos, one in a sub-folder, and a file that is not a photo."""
    root = tmp_path / "photos"
    (root / "trip").mkdir(parents=True)
    shutil.copy(samples / "chelsea.png", root / "chelsea.png")
    shutil.copy(samples / "coffee.png", root / "coffee.png")
    shutil.copy(samples / "rocket.jpg", root / "trip" / "rocket.jpg")
    (root / "notes.txt").write_text("not a photo")
    return root


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_collections_are_created_listed_and_deleted(client: Client, collection: str) -> None:
    made = client.collection(collection)
    assert (made.name, made.space, made.count, made.description) == (
        collection, "semantic", 0, "made by a test",
    )  # fmt: skip
    assert collection in {c.name for c in client.collections()}
    with pytest.raises(ServiceError) as info:
        client.create_collection(collection)
    assert (info.value.status, info.value.type) == (409, "conflict")
    assert client.delete_collection(collection) is True
    with pytest.raises(ServiceError) as info:
        client.collection(collection)
    assert (info.value.status, info.value.type) == (404, "not_found")


def test_add_and_search_by_text_image_item_and_vector(
    client: Client, collection: str, samples: Path
) -> None:
    photos = [samples / p for p in PHOTOS]
    added = client.add(collection, images=photos, texts=["a note about espresso"],
                       metadata=[{"name": p.name, "n": i} for i, p in enumerate(photos)]
                       + [{"name": "note", "n": 9}])  # fmt: skip
    assert added.count == 4 and added.ids[:3] == [sha256(p) for p in photos]
    assert added.ids[3] == hashlib.sha256(b"a note about espresso").hexdigest()
    assert client.count(collection) == 4
    # The same bytes have the same id: the item is replaced (metadata too), not added again.
    again = client.add(collection, images=photos[0], metadata={"name": "chelsea.png", "n": 0})
    assert again.count == 4

    cat = client.search(collection, "a cat", top_k=2)
    assert [h.metadata["name"] for h in cat][:1] == ["chelsea.png"] and len(cat) == 2
    assert cat[0].score >= cat[1].score
    by_image = client.search(collection, image=samples / "coffee.png", top_k=1)
    assert by_image[0].id == sha256(samples / "coffee.png") and by_image[0].score > 0.99
    by_item = client.search(collection, item=added.ids[2], top_k=1)
    assert by_item[0].id == added.ids[2]
    vector = client.get_item(collection, added.ids[0], with_vector=True).vector
    assert vector is not None and len(vector) == 384
    assert client.search(collection, vector=vector, top_k=1)[0].id == added.ids[0]

    page2 = client.search(collection, "a cat", top_k=2, offset=2)
    assert {h.id for h in page2}.isdisjoint({h.id for h in cat})
    only = client.search(collection, "a cat", filter={"must": [{"key": "n", "any": [1, 2]}]})
    assert {h.metadata["n"] for h in only} == {1, 2}
    ranged = client.search(
        collection, "a cat", filter={"must": [{"key": "n", "range": {"gte": 1, "lt": 9}}]}
    )
    assert {h.metadata["n"] for h in ranged} == {1, 2}


def test_items_are_fetched_checked_and_deleted(
    client: Client, collection: str, samples: Path
) -> None:
    ids = client.add(collection, images=[samples / p for p in PHOTOS],
                     metadata=[{"album": "a"}, {"album": "b"}, {"album": "b"}]).ids  # fmt: skip
    item = client.get_item(collection, ids[0])
    assert item.id == ids[0] and item.metadata["album"] == "a" and item.vector is None
    assert client.has_item(collection, ids[0]) and not client.has_item(collection, "0" * 64)
    with pytest.raises(ServiceError) as info:
        client.get_item(collection, "0" * 64)
    assert info.value.status == 404
    assert client.delete_items(collection, [ids[0]]).count == 2
    gone = client.delete_items(collection, filter={"must": [{"key": "album", "match": "b"}]})
    assert (gone.deleted, gone.count) == (2, 0)


def test_the_async_client_searches_too(server_url: str, collection: str, samples: Path) -> None:
    async def main() -> str:
        async with AsyncClient(server_url) as client:
            await client.add(collection, images=[samples / p for p in PHOTOS],
                             metadata=[{"name": p} for p in PHOTOS])  # fmt: skip
            hits = await client.search(collection, "a cup of coffee", top_k=1)
            return str(hits[0].metadata and hits[0].metadata["name"])

    assert asyncio.run(main()) == "coffee.png"


# --- the command line: index and search -----------------------------------------------------


def index(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, dict, str]:
    code = main(["index", *argv, "--url", url, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_index_sends_each_photo_once_and_search_finds_the_cat(
    capsys: pytest.CaptureFixture[str], server_url: str, client: Client, collection: str,
    folder: Path, tmp_path: Path,
) -> None:  # fmt: skip
    journal = tmp_path / "journal.jsonl"
    code, summary, err = index(
        capsys, server_url, str(folder), "-c", collection, "--journal", str(journal)
    )
    assert code == 0, err
    assert (summary["found"], summary["sent"], summary["skipped"], summary["count"]) == (3, 3, 0, 3)
    assert "images/s" in err and "indexing 3/3" in err
    assert (
        client.get_item(collection, sha256(folder / "trip" / "rocket.jpg")).metadata["path"]
        == "trip/rocket.jpg"
    )

    code, summary, _ = index(
        capsys, server_url, str(folder), "-c", collection, "--journal", str(journal)
    )
    assert (code, summary["sent"], summary["skipped"]) == (0, 0, 3)
    journal.unlink()  # without the journal, the service is asked what it has
    code, summary, _ = index(
        capsys, server_url, str(folder), "-c", collection, "--journal", str(journal)
    )
    assert (code, summary["sent"], summary["skipped"]) == (0, 0, 3)

    assert main(["search", "a cat", "-c", collection, "--url", server_url]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split() == ["rank", "score", "name", "id", "metadata"]
    assert rows[2].split()[2] == "chelsea.png"
    assert main(["search", "a cup of coffee", "-c", collection, "--url", server_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["metadata"]["path"] == "coffee.png"


def test_index_resumes_after_an_interrupt(
    capsys: pytest.CaptureFixture[str], server_url: str, collection: str, folder: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    real_store = index_command._store
    calls = []

    def interrupted_store(*args: object) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second batch
        real_store(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(index_command, "_store", interrupted_store)
    journal = str(tmp_path / "journal.jsonl")
    argv = (str(folder), "-c", collection, "--journal", journal, "--batch-size", "1")
    code, summary, err = index(capsys, server_url, *argv)
    assert code == 130 and summary["interrupted"] and summary["sent"] == 1
    assert "re-run" in err

    monkeypatch.setattr(index_command, "_store", real_store)
    code, summary, _ = index(capsys, server_url, *argv)
    assert (code, summary["sent"], summary["skipped"], summary["count"]) == (0, 2, 1, 3)


def test_index_reports_a_broken_photo_and_stores_the_rest(
    capsys: pytest.CaptureFixture[str], server_url: str, collection: str, folder: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    code, summary, err = index(capsys, server_url, str(folder), "-c", collection, "--journal",
                               str(tmp_path / "j.jsonl"), "--thumbnails")  # fmt: skip
    assert code == 1 and summary["sent"] == 3
    assert [f["path"] for f in summary["failed"]] == ["broken.jpg"] and "failed: broken.jpg" in err


def test_index_creates_a_missing_collection_with_thumbnails(
    capsys: pytest.CaptureFixture[str], server_url: str, client: Client, folder: Path,
    tmp_path: Path,
) -> None:  # fmt: skip
    name = f"test-{uuid.uuid4().hex[:10]}"
    try:
        code, summary, err = index(capsys, server_url, str(folder), "-c", name, "--thumbnails",
                                   "--journal", str(tmp_path / "j.jsonl"))  # fmt: skip
        assert code == 0 and summary["sent"] == 3 and "creating collection" in err
        meta = client.get_item(name, sha256(folder / "chelsea.png")).metadata
        assert meta["thumbnail"].startswith("data:image/jpeg;base64,")
        assert len(meta["thumbnail"]) < 20_000
    finally:
        client.delete_collection(name)
