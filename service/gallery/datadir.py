"""The embedded store's data directory: its layout, its lock and its crash-safe metadata files.

::

    <data_dir>/
      gallery.lock                 # flock'ed by the one process that owns the directory
      collections/<name>/
        collection.json            # the collection's record, written last: its commit point
        shard/                     # the qdrant-edge shard (WAL, segments, HNSW, payload index)

A collection exists once ``collection.json`` is in place (written to a temporary file, fsynced,
renamed, directory fsynced). A directory without one is a create that crashed half-way, and a
``.trash-*`` directory is a delete that did: both are removed when the store opens.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.gallery.errors import GalleryUnavailableError

log = logging.getLogger(__name__)

LOCK_FILE = "gallery.lock"
COLLECTIONS = "collections"
RECORD_FILE = "collection.json"
SHARD_DIR = "shard"
_TRASH = ".trash-"


class DirectoryLock:
    """An exclusive ``flock`` on ``<data_dir>/gallery.lock`` for the life of the store.

    The kernel drops it when the process dies, so a crash never leaves a stale lock; a second
    process (or a second store in the same process) gets a clear error at once.
    """

    def __init__(self, data_dir: Path):
        self.path = data_dir / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise GalleryUnavailableError(
                f"the gallery directory {data_dir} is in use by another process (pid {owner}); "
                "the embedded store serves one process: give each process its own "
                "MMS_GALLERY_DATA_DIR, or run replicas against a Qdrant server "
                "(MMS_GALLERY_BACKEND=qdrant)",
                data_dir=str(data_dir),
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        """Unlock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def collection_dir(data_dir: Path, name: str) -> Path:
    """The directory of one collection."""
    return data_dir / COLLECTIONS / name


def committed_collections(data_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every collection directory with its record; removes what crashed creates/deletes left."""
    root = data_dir / COLLECTIONS
    root.mkdir(parents=True, exist_ok=True)
    for path in sorted(root.iterdir()):
        record = path / RECORD_FILE
        if path.name.startswith(_TRASH) or not record.is_file():
            log.warning("gallery: removing %s (left by an interrupted create or delete)", path)
            shutil.rmtree(path, ignore_errors=True)
            continue
        try:
            parsed = json.loads(record.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:  # written atomically, so only by hand or a bad disk
            raise ValueError(f"the collection record {record} is not valid JSON: {exc}") from None
        yield path, parsed


def write_record(directory: Path, record: dict[str, Any]) -> None:
    """Write ``collection.json`` atomically and durably (the commit point of a create)."""
    target = directory / RECORD_FILE
    temporary = directory / f".{RECORD_FILE}.{uuid.uuid4().hex}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    _fsync_dir(directory)


def remove_collection(directory: Path) -> None:
    """Delete a collection's directory: renamed away first (atomic), then removed."""
    trash = directory.with_name(f"{_TRASH}{directory.name}-{uuid.uuid4().hex[:8]}")
    os.replace(directory, trash)
    _fsync_dir(directory.parent)
    shutil.rmtree(trash, ignore_errors=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
