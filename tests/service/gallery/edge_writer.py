"""A child process for the embedded store's crash tests.

``python -m tests.service.gallery.edge_writer DIR write [--flush]``: opens the store on DIR,
creates ``photos`` and upserts batches of ``BATCH`` items forever, printing ``acked <total>``
after each upsert returns; the test SIGKILLs it mid-stream.

``python -m tests.service.gallery.edge_writer DIR hold``: opens the store, prints ``ready`` and
sleeps, holding the directory.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from service.gallery import GalleryConfig, Item, ModelRef
from service.gallery.edge import EdgeGalleryStore
from tests.service.gallery.conftest import make_spec

BATCH = 50
DIM = 8


def batch_vectors(batch: int) -> np.ndarray:
    """The vectors of batch ``batch`` (the test recomputes them to search for an item)."""
    vectors = np.random.default_rng(batch).standard_normal((BATCH, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main(argv: list[str]) -> None:
    directory, mode = Path(argv[0]), argv[1]
    store = EdgeGalleryStore(GalleryConfig(data_dir=directory, flush_on_write="--flush" in argv))
    if mode == "hold":
        print("ready", flush=True)
        time.sleep(600)
        return
    store.create_collection(make_spec(dimension=DIM))
    model = ModelRef("vision", 1)
    for batch in range(10**6):
        items = [
            Item(f"item-{batch * BATCH + i}", vector, {"batch": batch, "i": i})
            for i, vector in enumerate(batch_vectors(batch))
        ]
        store.upsert("photos", items, model=model)
        print(f"acked {(batch + 1) * BATCH}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
