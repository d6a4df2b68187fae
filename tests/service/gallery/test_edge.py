"""The embedded store beyond the shared contract: crashes, the directory lock, index builds."""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from service.gallery import GalleryConfig, ModelRef, open_store
from service.gallery.edge import EdgeGalleryStore
from service.gallery.errors import GalleryUnavailableError
from tests.service.gallery.conftest import make_items, make_spec, unit_vectors
from tests.service.gallery.edge_writer import BATCH, batch_vectors

ROOT = Path(__file__).resolve().parents[3]
VISION = ModelRef("vision", 1)


def spawn(directory: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.service.gallery.edge_writer", str(directory), *args]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)


def read_line(process: subprocess.Popen[str], timeout_s: float = 60.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    assert ready, "the child process printed nothing in time"
    line = process.stdout.readline()
    assert line, f"the child process exited (code {process.poll()})"
    return line.strip()


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("flush", [False, True], ids=["wal", "flush_on_write"])
def test_acknowledged_upserts_survive_kill_9(tmp_path: Path, flush: bool) -> None:
    writer = spawn(tmp_path, "write", *(["--flush"] if flush else []))
    acked = 0
    try:
        while acked < 10 * BATCH:  # kill it while it keeps writing
            acked = int(read_line(writer).split()[1])
    finally:
        kill(writer)

    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)) as store:
        count = store.count("photos")
        assert count >= acked
        assert count % BATCH == 0, "a batch is one log record: all of it or none of it"
        last = acked - 1
        hit = store.search("photos", batch_vectors(last // BATCH)[last % BATCH], top_k=1)[0]
        assert hit.id == f"item-{last}" and hit.score > 0.999
        for k in range(count):  # nothing is visible without its vector and metadata
            item = store.get("photos", f"item-{k}", with_vector=True)
            assert item.vector is not None and item.metadata == {
                "batch": k // BATCH,
                "i": k % BATCH,
            }


def test_a_second_process_on_the_directory_gets_a_clear_error(tmp_path: Path) -> None:
    holder = spawn(tmp_path, "hold")
    try:
        assert read_line(holder) == "ready"
        with pytest.raises(GalleryUnavailableError) as caught:
            EdgeGalleryStore(GalleryConfig(data_dir=tmp_path))
        assert caught.value.status == 503
        assert f"in use by another process (pid {holder.pid})" in caught.value.message
        assert "MMS_GALLERY_BACKEND=qdrant" in caught.value.message
    finally:
        kill(holder)
    EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)).close()  # the kernel dropped the lock


def test_a_second_store_in_the_same_process_is_refused_too(tmp_path: Path) -> None:
    config = GalleryConfig(data_dir=tmp_path)
    with EdgeGalleryStore(config), pytest.raises(GalleryUnavailableError):
        EdgeGalleryStore(config)
    EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)).close()  # close() released it


def test_the_index_is_built_once_the_threshold_is_reached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.gallery.edge")
    vectors = unit_vectors(40)
    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path, optimize_threshold=30)) as store:
        store.create_collection(make_spec())
        store.upsert("photos", make_items(vectors[:20], "a"), model=VISION)
        assert "indexed photos" not in caplog.text
        store.upsert("photos", make_items(vectors[20:], "b"), model=VISION)
        assert "indexed photos (40 new points)" in caplog.text
        assert store.search("photos", vectors[25], top_k=1)[0].id == "b-5"


def test_no_automatic_index_build_with_threshold_0(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.gallery.edge")
    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path, optimize_threshold=0)) as store:
        store.create_collection(make_spec())
        store.upsert("photos", make_items(unit_vectors(50)), model=VISION)
        assert "indexed photos" not in caplog.text
        store.optimize("photos")
        assert "indexed photos (50 new points)" in caplog.text


def test_leftovers_of_interrupted_creates_and_deletes_are_removed(tmp_path: Path) -> None:
    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)) as store:
        store.create_collection(make_spec("kept"))
        store.create_collection(make_spec("half"))
    (tmp_path / "collections" / "half" / "collection.json").unlink()  # as if it crashed
    (tmp_path / "collections" / ".trash-old-1234").mkdir()
    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)) as store:
        assert [c.name for c in store.list_collections()] == ["kept"]
        store.create_collection(make_spec("half"))
    assert sorted(p.name for p in (tmp_path / "collections").iterdir()) == ["half", "kept"]


def test_the_collection_record_is_plain_json_next_to_its_shard(tmp_path: Path) -> None:
    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)) as store:
        store.create_collection(make_spec(description="d"))
    directory = tmp_path / "collections" / "photos"
    assert (directory / "shard" / "edge_config.json").is_file()
    text = (directory / "collection.json").read_text()
    assert '"models": {' in text and '"vision": 1' in text and '"dimension": 8' in text


def test_indexed_fields_become_engine_payload_indexes(tmp_path: Path) -> None:
    spec = make_spec(indexed_fields={"colour": "keyword", "n": "integer"})
    with EdgeGalleryStore(GalleryConfig(data_dir=tmp_path)) as store:
        store.create_collection(spec)
        store.upsert("photos", make_items(unit_vectors(6)), model=VISION)
    shard = qe.EdgeShard.load(str(tmp_path / "collections" / "photos" / "shard"))
    try:
        schema = shard.info().payload_schema
        assert schema["metadata.colour"].data_type == qe.PayloadSchemaType.Keyword
        assert schema["metadata.n"].data_type == qe.PayloadSchemaType.Integer
        assert schema["metadata.n"].points == 6
    finally:
        shard.close()


def test_open_store_picks_the_embedded_backend_by_default(tmp_path: Path) -> None:
    store = open_store(GalleryConfig(data_dir=tmp_path))
    try:
        assert isinstance(store, EdgeGalleryStore)
    finally:
        store.close()


def test_many_points_stay_consistent_across_flushes(tmp_path: Path) -> None:
    """Crosses the periodic flush (every 10,000 writes) and an index build."""
    vectors = unit_vectors(12_000, seed=3)
    config = GalleryConfig(data_dir=tmp_path, optimize_threshold=11_000)
    with EdgeGalleryStore(config) as store:
        store.create_collection(make_spec())
        for start in range(0, len(vectors), 1000):
            items = make_items(vectors[start : start + 1000], f"b{start}")
            store.upsert("photos", items, model=VISION)
    with EdgeGalleryStore(config) as store:
        assert store.count("photos") == 12_000
        hits = store.search("photos", vectors[11_500], top_k=1)
        assert hits[0].id == "b11000-500"
        exact = store.search("photos", vectors[3], top_k=10, exact=True)
        assert np.isclose(exact[0].score, 1.0, atol=1e-5)
