"""Benchmark of the embedded gallery store (qdrant-edge) at 100,000 vectors, in-process.

Loads clustered, normalised vectors (so that recall means something: uniform random vectors in
384-d are all nearly orthogonal) through ``EdgeGalleryStore`` with its default settings, then
reports: upsert rate, index build (``optimize``) time, search latency p50/p99, recall@10 of the
HNSW search against exact search, filtered-search latency, and the resident memory and disk
of a process that reopens the store and serves queries from it.

    .venv/bin/python bench/gallery_store.py                 # 100,000 x 384-d
    .venv/bin/python bench/gallery_store.py --items 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from service.gallery import CollectionSpec, GalleryConfig, Item, ModelRef, parse_filter
from service.gallery.edge import EdgeGalleryStore
from service.gallery.models import FieldType

MODEL = ModelRef("bench", 1)
BATCH = 1000
CLUSTERS = 1000  # 100 items a cluster at 100,000 items


def clustered(count: int, dimension: int, seed: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unit vectors around ``CLUSTERS`` random centres, and each one's cluster.

    ``noise`` is the spread around a centre, relative to the centre's norm: a point's cosine to
    its centre is about 1/sqrt(1 + noise**2) (0.71 at 1.0) and to another point of its cluster
    about 1/(1 + noise**2) (0.5 at 1.0), to points of other clusters about 0.
    """
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(12345).standard_normal((CLUSTERS, dimension))
    labels = rng.integers(0, CLUSTERS, count)
    vectors = centres[labels] + noise * rng.standard_normal((count, dimension))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), labels


class BuildTimes(logging.Handler):
    """Collects the store's "indexed <name> (<n> new points) in <s> s" log lines."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.builds: list[tuple[int, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = re.search(r"\((\d+) new points\) in ([\d.]+) s", record.getMessage())
        if found:
            self.builds.append((int(found[1]), float(found[2])))


def batches(vectors: np.ndarray, labels: np.ndarray) -> Iterator[list[Item]]:
    for start in range(0, len(vectors), BATCH):
        yield [
            Item(f"v{start + i}", vectors[start + i], {"cluster": int(labels[start + i])})
            for i in range(min(BATCH, len(vectors) - start))
        ]


def ingest(
    store: EdgeGalleryStore, vectors: np.ndarray, labels: np.ndarray, queries: np.ndarray
) -> dict[str, Any]:
    """Upsert everything in batches; time the automatic index builds, and the search latency
    just before the last one (when the most points are waiting to be indexed)."""
    builds = BuildTimes()
    logging.getLogger("service.gallery.edge").addHandler(builds)
    threshold = GalleryConfig().optimize_threshold
    written, pause_s = 0, 0.0
    waiting: dict[str, Any] = {}
    started = time.perf_counter()
    for items in batches(vectors, labels):
        store.upsert("bench", items, model=MODEL)
        written += len(items)
        if written - sum(n for n, _ in builds.builds) == threshold - BATCH:
            paused = time.perf_counter()
            _, seconds = timed_search(store, queries[:200])
            indexed = written - threshold + BATCH
            waiting = {"indexed": indexed, "unindexed": threshold - BATCH, **percentiles(seconds)}
            pause_s += time.perf_counter() - paused
    total = time.perf_counter() - started - pause_s
    logging.getLogger("service.gallery.edge").removeHandler(builds)
    started = time.perf_counter()
    store.optimize("bench")  # index what the automatic builds left over
    final = time.perf_counter() - started
    build_s = sum(seconds for _, seconds in builds.builds)
    return {
        "ingest_s": round(total, 2),
        "automatic_builds": [{"points": n, "seconds": s} for n, s in builds.builds],
        "final_optimize_s": round(final, 2),
        "upserts_per_s_excluding_builds": round(len(vectors) / (total - build_s)),
        "upserts_per_s_including_builds": round(len(vectors) / (total + final)),
        "search_before_last_build": waiting,
    }


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 3) for q in (50, 99)}


def timed_search(
    store: EdgeGalleryStore, queries: np.ndarray, **kwargs: Any
) -> tuple[list[list[str]], list[float]]:
    """The top-10 ids of each query, and each query's latency in seconds."""
    ids: list[list[str]] = []
    seconds: list[float] = []
    for query in queries:
        started = time.perf_counter()
        hits = store.search("bench", query, top_k=10, with_metadata=False, **kwargs)
        seconds.append(time.perf_counter() - started)
        ids.append([h.id for h in hits])
    return ids, seconds


def search_figures(store: EdgeGalleryStore, queries: np.ndarray) -> dict[str, Any]:
    timed_search(store, queries[:50])  # warm the page cache and the code paths
    approx, approx_s = timed_search(store, queries)
    exact, exact_s = timed_search(store, queries, exact=True)
    recall = np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)])
    where = parse_filter({"must": [{"key": "cluster", "any": list(range(0, CLUSTERS, 10))}]})
    _, filtered_s = timed_search(store, queries, filter=where)
    return {
        "hnsw": percentiles(approx_s),
        "exact": percentiles(exact_s),
        "filtered_10pct_hnsw": percentiles(filtered_s),
        "recall_at_10": round(float(recall), 4),
    }


def rss_mb() -> float:
    """Resident memory of this process now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def probe(data_dir: Path, dimension: int, count: int, noise: float) -> dict[str, float]:
    """In a fresh process: reopen the store, serve 1,000 queries, report its memory."""
    before = rss_mb()
    started = time.perf_counter()
    store = EdgeGalleryStore(GalleryConfig(data_dir=data_dir))
    opened = time.perf_counter() - started
    queries, _ = clustered(1000, dimension, seed=2, noise=noise)
    timed_search(store, queries)
    after = rss_mb()
    store.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "open_s": round(opened, 3),
        "rss_before_open_mb": round(before, 1),
        "rss_serving_mb": round(after, 1),
        "store_rss_mb": round(after - before, 1),
        "store_rss_per_100k_items_mb": round((after - before) * 100_000 / count, 1),
        "peak_rss_mb": round(peak, 1),
    }


def disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def run(
    data_dir: Path, count: int, dimension: int, query_count: int, noise: float
) -> dict[str, Any]:
    vectors, labels = clustered(count, dimension, seed=1, noise=noise)
    queries, _ = clustered(query_count, dimension, seed=2, noise=noise)  # new points, same clusters
    fields: dict[str, FieldType] = {"cluster": "integer"}
    spec = CollectionSpec("bench", dimension, "bench", {"bench": 1}, indexed_fields=fields)
    with EdgeGalleryStore(GalleryConfig(data_dir=data_dir)) as store:
        store.create_collection(spec)
        figures: dict[str, Any] = {"items": count, "dimension": dimension, "noise": noise}
        figures["ingest"] = ingest(store, vectors, labels, queries)
        figures["search"] = search_figures(store, queries)
    command = [sys.executable, __file__, "--probe", str(data_dir), "--items", str(count)]
    command += ["--dim", str(dimension), "--noise", str(noise)]
    probed = subprocess.run(command, check=True, capture_output=True)
    figures["memory"] = json.loads(probed.stdout)
    figures["disk_mb"] = round(disk_mb(data_dir), 1)
    figures["machine"] = {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--noise", type=float, default=1.0, help="cluster spread (see clustered)")
    parser.add_argument("--data-dir", type=Path, help="default: a temporary directory, removed")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.dim, args.items, args.noise)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="gallery-bench-") as temporary:
        directory = args.data_dir or Path(temporary)
        figures = run(directory, args.items, args.dim, args.queries, args.noise)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
