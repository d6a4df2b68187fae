"""The gallery through HTTP: image ingest beside raw ``/v1/embed``, and text search at 100k items.

    python -m bench.gallery_http                              # 10,000 images, 100,000 vectors
    python -m bench.gallery_http --images 500 --vectors 20000 # a quick run

(a) Ingest: ``--images`` JPEGs (scikit-image/scikit-learn sample photos and augmented variants,
    made by ``bench/index_folder.py``'s ``make_folder``) through ``POST /v1/collections/{c}/items``
    in batches of the item limit, ``--concurrency`` requests at a time; beside it the raw
    ``POST /v1/embed`` rate of the same images and batches, measured before and after (shared CPUs
    drift). Target: ingest >= 0.8 of raw.
(b) Search: ``--vectors`` clustered 384-d vectors (``bench/gallery_store.py``'s ``clustered``)
    are loaded through the store into a fresh data directory BEFORE the service starts (the HTTP
    API has no bulk vector ingest), in a collection of the ``semantic`` space recording the
    served model versions; recall@10 of the engine's (HNSW) search against exact search is taken
    there. Then a service on that directory answers text queries (embedded by the text model, then
    searched): latency p50/p99 at concurrency 1 and 16 (target at c=1: p50 <= 15 ms, p99 <= 50 ms),
    and its resident memory beside a service with an empty collection that answered the same
    queries, scaled to 100k items.

Prints the figures as JSON and writes ``bench-results/gallery_http.json``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.gallery_store import clustered
from bench.index_folder import make_folder
from contract import layout
from service.gallery import CollectionSpec, GalleryConfig, Item, ModelRef
from service.gallery.edge import EdgeGalleryStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench-results"
WORDS = ("cat", "dog", "espresso", "rocket", "astronaut", "motorcycle", "galaxy", "camera")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    figures: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="gallery-http-") as tmp:
        with service(args, Path(tmp) / "ingest") as (url, pid):
            figures["ingest"] = ingest(url, make_folder(args.folder, args.images, 0), args)
            progress("ingest", figures["ingest"])
        with service(args, Path(tmp) / "empty") as (url, pid):  # the baseline of the memory
            httpx.post(f"{url}/v1/collections", json={"name": "bench"}).raise_for_status()
            search(url, args, expect=0)
            empty = rss_mb(pid)
        data = Path(tmp) / "search"
        figures["load"] = load_vectors(data, args)
        progress("load", figures["load"])
        with service(args, data) as (url, pid):
            figures["search"] = search(url, args)
            rss = rss_mb(pid)
    figures["memory"] = {
        "rss_serving_mb": rss, "rss_empty_collection_mb": empty,
        "rss_per_100k_items_mb": round((rss - empty) * 1e5 / args.vectors, 1),
    }  # fmt: skip
    figures["machine_after"] = machine()
    print(json.dumps(figures, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gallery_http.json").write_text(json.dumps(figures, indent=2))
    return 0


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, default=4, help="ingest/embed requests")
    parser.add_argument("--batch", type=int, default=64, help="images a request (<= max_items)")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--folder", type=Path, default=RESULTS / "gallery-http-photos")
    return parser.parse_args(argv)


# --- the service -------------------------------------------------------------------------------


@contextmanager
def service(args: argparse.Namespace, data_dir: Path) -> Iterator[tuple[str, int]]:
    """``python -m service`` on ``--models-dir`` and the gallery ``data_dir``, ready."""
    from tests.live_server import _wait_ready, free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MMS_MODEL_DIR": str(args.models_dir),
           "MMS_MODELS": "vision,text", "MMS_LOG_LEVEL": "WARNING",
           "MMS_GALLERY_DATA_DIR": str(data_dir), "MMS_MAX_ITEMS": str(args.batch)}  # fmt: skip
    log = data_dir.parent / f"{data_dir.name}.log"
    with log.open("wb") as out:
        command = [sys.executable, "-m", "service", "--port", str(port)]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(60)


def progress(phase: str, figures: dict[str, Any]) -> None:
    """Each phase's figures as soon as it ends (a full run takes a while on shared CPUs)."""
    print(f"{phase}: {json.dumps(figures)}", file=sys.stderr, flush=True)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()]}


# --- (a) ingest --------------------------------------------------------------------------------


def ingest(url: str, photos: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in photos]
    chunks = [encoded[i : i + args.batch] for i in range(0, len(encoded), args.batch)]
    with httpx.Client(base_url=url, timeout=600) as client:
        client.post("/v1/embed", json={"inputs": [{"type": "image", "image": encoded[0]}]})
        raw = rate(client, "/v1/embed", chunks, embed_body, args.concurrency)
        assert client.post("/v1/collections", json={"name": "bench"}).status_code == 201
        gallery = rate(client, "/v1/collections/bench/items", chunks, add_body, args.concurrency)
        raw_after = rate(client, "/v1/embed", chunks, embed_body, args.concurrency)
        count = client.get("/v1/collections/bench/count").json()["count"]
    best_raw = max(raw, raw_after)
    return {
        "images": len(photos), "stored": count, "batch": args.batch,
        "concurrency": args.concurrency, "raw_embed_images_per_s": [raw, raw_after],
        "gallery_images_per_s": gallery, "ratio_to_raw": round(gallery / best_raw, 3),
        "ratio_to_mean_raw": round(gallery / ((raw + raw_after) / 2), 3),
    }  # fmt: skip


def embed_body(chunk: list[str]) -> dict[str, Any]:
    return {"inputs": [{"type": "image", "image": e} for e in chunk]}


def add_body(chunk: list[str]) -> dict[str, Any]:
    return {"items": [{"image": e} for e in chunk]}


def rate(
    client: httpx.Client, path: str, chunks: Sequence[list[str]],
    body: Callable[[list[str]], Any], concurrency: int,
) -> float:  # fmt: skip
    """Images a second through ``path``, ``concurrency`` requests in flight."""

    def post(chunk: list[str]) -> int:
        reply = client.post(path, json=body(chunk))
        reply.raise_for_status()
        return len(chunk)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        done = sum(pool.map(post, chunks))
    return round(done / (time.perf_counter() - started), 1)


# --- (b) search --------------------------------------------------------------------------------


def load_vectors(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Clustered vectors into a ``semantic`` collection, through the store; recall@10 there."""
    versions = {m: max(layout.versions(args.models_dir / m)) for m in ("vision", "text")}
    vectors, labels = clustered(args.vectors, 384, seed=1, noise=1.0)
    spec = CollectionSpec("bench", 384, "semantic", versions)
    started = time.perf_counter()
    with EdgeGalleryStore(GalleryConfig(data_dir=data_dir)) as store:
        store.create_collection(spec)
        model = ModelRef("vision", versions["vision"])
        for start in range(0, len(vectors), 1000):
            items = [Item(f"v{i}", vectors[i], {"cluster": int(labels[i])})
                     for i in range(start, min(start + 1000, len(vectors)))]  # fmt: skip
            store.upsert("bench", items, model=model)
        store.optimize("bench")
        seconds = time.perf_counter() - started
        queries, _ = clustered(200, 384, seed=2, noise=1.0)
        recall = statistics.mean(
            len({h.id for h in store.search("bench", q, top_k=10)}
                & {h.id for h in store.search("bench", q, top_k=10, exact=True)}) / 10
            for q in queries
        )  # fmt: skip
    return {"vectors": len(vectors), "load_and_index_s": round(seconds, 1),
            "recall_at_10": round(recall, 4)}  # fmt: skip


def search(url: str, args: argparse.Namespace, expect: int = 10) -> dict[str, Any]:
    texts = [f"a photo of a {WORDS[i % len(WORDS)]} number {i}" for i in range(args.queries)]
    figures = {}
    with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as client:
        for text in texts[:20]:  # warm-up
            timed_query(client, text, expect)
        for concurrency in (1, 16):
            with ThreadPoolExecutor(concurrency) as pool:
                started = time.perf_counter()
                seconds = list(pool.map(lambda t: timed_query(client, t, expect), texts))
                wall = time.perf_counter() - started
            figures[f"c{concurrency}"] = {**percentiles(seconds),
                                          "queries_per_s": round(len(texts) / wall, 1)}  # fmt: skip
    return figures


def timed_query(client: httpx.Client, text: str, expect: int) -> float:
    body = {"query": {"type": "text", "text": text}, "top_k": 10}
    started = time.perf_counter()
    reply = client.post("/v1/collections/bench/search", json=body)
    reply.raise_for_status()
    assert len(reply.json()["results"]) == expect
    return time.perf_counter() - started


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2)}  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
