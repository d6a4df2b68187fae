"""Gallery configuration: which engine, where its data lives, and the limits every input obeys.

A plain frozen dataclass, so the gallery has no settings dependency: the service builds one from
its ``MMS_GALLERY_*`` settings (``GalleryConfig.from_settings``), tests build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from service.settings import Settings

Backend = Literal["edge", "qdrant"]


@dataclass(frozen=True)
class GalleryLimits:
    """Bounds on what one call may ask; anything over them is a 4xx, never a slow request."""

    max_batch_items: int = 1000
    max_id_length: int = 256
    max_metadata_bytes: int = 16_384  # compact JSON, UTF-8
    max_metadata_depth: int = 4  # {"a": {"b": 1}} has depth 2
    max_description_length: int = 1000
    max_top_k: int = 1000
    max_offset: int = 10_000
    max_collections: int = 1000

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value < 1:
                raise ValueError(f"GalleryLimits.{name} must be at least 1, got {value}")


@dataclass(frozen=True)
class GalleryConfig:
    """Where and how the gallery stores its vectors.

    Attributes:
        backend: ``edge`` (the default): the Qdrant engine in-process (``qdrant-edge-py``), one
            shard per collection under ``data_dir``, for one service process. ``qdrant``: a
            Qdrant server or cluster at ``qdrant_url``, for replicas and for scale.
        data_dir: the embedded store's directory (one process at a time: a lock file guards it).
        qdrant_url: the Qdrant server, e.g. ``http://qdrant:6333`` (``qdrant`` backend only).
        qdrant_api_key: sent as the ``api-key`` header; None for an open server.
        qdrant_prefix: prepended to every collection name on the server, so the gallery lists
            only its own collections on a shared cluster.
        qdrant_timeout_s: per-request timeout towards the server.
        optimize_threshold: the embedded store builds the HNSW index of a collection (the
            engine's ``optimize()``) in the write that brings the points written since the last
            build to this many; until then those points are searched exactly. 0 = only on an
            explicit ``optimize()`` call. The build holds the GIL throughout: the whole process
            pauses. Measured with ``bench/gallery_store.py`` (100,000 x 384-d, 2 shared cores):
            one build of 20,000 new points took 6-50 s (up to 102 s at load average 8), and
            later builds were no slower than the first though each adds to a larger index;
            19,000 unindexed points next to 80,000 indexed ones gave a search p50 of 1.8-5.1 ms
            against 1.0-1.2 ms once indexed. Lower it for shorter, more frequent pauses, but not
            below the engine's own indexing threshold (10,000 KB of vectors: measured, 6,000
            384-d points were left unindexed, 7,000 were indexed in 6.2 s); raise it, or set 0
            and call ``optimize()`` after a bulk ingest, to pause less often.
        flush_on_write: fsync the embedded store before acknowledging each write. Off, an
            acknowledged write survives ``kill -9`` of the process (the engine's write-ahead log
            is in the page cache, measured: every acknowledged point was back after SIGKILL) but
            not a power loss or kernel crash; on, it survives those too, at a cost measured here of
            about 46 ms a write at 20,000 points and 160-230 ms at 50,000-100,000 (the engine's
            flush syncs every segment, not only the log).
        hnsw_ef: the HNSW search beam; None = the engine's default (recall@10 0.99-1.0 measured).
        limits: per-request bounds.
    """

    backend: Backend = "edge"
    data_dir: Path = Path("data/gallery")
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    qdrant_prefix: str = "gallery_"
    qdrant_timeout_s: int = 10
    optimize_threshold: int = 20_000
    flush_on_write: bool = False
    hnsw_ef: int | None = None
    limits: GalleryLimits = field(default_factory=GalleryLimits)

    def __post_init__(self) -> None:
        if self.backend not in ("edge", "qdrant"):
            raise ValueError(f"gallery backend must be 'edge' or 'qdrant', got {self.backend!r}")
        if self.backend == "qdrant" and not self.qdrant_url:
            raise ValueError("the qdrant gallery backend needs qdrant_url (MMS_GALLERY_QDRANT_URL)")
        if self.optimize_threshold < 0:
            raise ValueError("optimize_threshold must be 0 (explicit only) or positive")
        if self.hnsw_ef is not None and self.hnsw_ef < 1:
            raise ValueError("hnsw_ef must be positive")
        if self.qdrant_timeout_s < 1:
            raise ValueError("qdrant_timeout_s must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> GalleryConfig:
        """The gallery part of the service's ``MMS_GALLERY_*`` settings."""
        key = settings.gallery_qdrant_api_key
        limits = GalleryLimits(
            max_batch_items=settings.gallery_max_batch_items,
            max_id_length=settings.gallery_max_id_length,
            max_metadata_bytes=settings.gallery_max_metadata_bytes,
            max_metadata_depth=settings.gallery_max_metadata_depth,
            max_top_k=settings.gallery_max_top_k,
            max_offset=settings.gallery_max_offset,
            max_collections=settings.gallery_max_collections,
        )
        return cls(
            backend=settings.gallery_backend,
            data_dir=settings.gallery_data_dir,
            qdrant_url=settings.gallery_qdrant_url,
            qdrant_api_key=key.get_secret_value() if key is not None else None,
            qdrant_prefix=settings.gallery_qdrant_prefix,
            qdrant_timeout_s=settings.gallery_qdrant_timeout_s,
            optimize_threshold=settings.gallery_optimize_threshold,
            flush_on_write=settings.gallery_flush_on_write,
            hnsw_ef=settings.gallery_hnsw_ef,
            limits=limits,
        )
