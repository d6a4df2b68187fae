"""``mapping-serve index FOLDER --collection NAME``: add a folder's photos to a gallery collection.

Each photo's id is the sha256 of its bytes (the service's default id), so what is already stored
is known without sending it: the resume journal (``journal``) lists what earlier runs stored, and
files it does not list are looked up on the service (``GET .../items/{id}``) unless the collection
is empty or holds exactly the journal's items. Batches go out one at a time, each recorded in the
journal once stored; Ctrl-C stops between or inside a batch, and the next run sends only the rest.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mapping_client import Client, ServiceError
from mapping_client.cli import journal as journals
from mapping_client.cli.output import as_json
from mapping_client.cli.progress import Progress

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}  # what the service decodes
INTERRUPTED = 130  # the shell's code for SIGINT
_THUMB_PX = 128
_PHOTO_ERRORS = (413, 415, 422)  # what the service answers for a photo it cannot take


@dataclass
class Photo:
    """A file to index: its path relative to the folder and its content hash (the item id)."""

    path: Path
    relative: str
    id: str


@dataclass
class Summary:
    """What a run did (printed as JSON with ``--json``)."""

    collection: str
    found: int = 0
    skipped: int = 0
    sent: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    images_per_s: float = 0.0
    count: int | None = None
    interrupted: bool = False
    journal: str = ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``index`` command's own options."""
    parser.add_argument("folder", type=Path, help="folder of photos (searched recursively)")
    parser.add_argument("--collection", "-c", required=True, help="collection name")
    parser.add_argument("--space", default="semantic", help="space of a new collection")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="photos per request (default: the client's item limit, 64)",
    )
    parser.add_argument(
        "--thumbnails",
        action="store_true",
        help="store a 128 px JPEG data URI as metadata 'thumbnail' (needs Pillow)",
    )
    parser.add_argument(
        "--journal",
        type=Path,
        default=None,
        help="resume journal file (default: under ~/.cache/mapping-serve/index/)",
    )
    parser.add_argument(
        "--recheck", action="store_true",
        help="look up every file the journal does not list on the service, even when the "
        "collection's size says they cannot be there",
    )  # fmt: skip


def run(client: Client, args: argparse.Namespace) -> int:
    """Index ``args.folder``; 0 when every photo is stored, 1 if some failed, 130 on Ctrl-C."""
    folder: Path = args.folder
    if not folder.is_dir():
        raise SystemExit(f"error: {folder} is not a folder")
    collection = _ensure_collection(client, args.collection, args.space)
    path = args.journal or journals.default_path(client.url, args.collection, folder)
    header = {"url": client.url, "collection": args.collection, "created": collection.created}
    journal = journals.Journal(path, header)
    summary = Summary(collection=args.collection, journal=str(path))
    try:
        photos = scan(folder)
        summary.found = len(photos)
        todo = _not_stored(client, args, photos, journal, collection.count)
        summary.skipped = summary.found - len(todo)
        print(f"{summary.found} photos in {folder}, {summary.skipped} already indexed, "
              f"{len(todo)} to send", file=sys.stderr)  # fmt: skip
        code = _send(client, args, todo, journal, summary)
        if not summary.interrupted:
            summary.count = client.count(args.collection)
    finally:
        journal.close()
    _report(summary, args)
    return code


def scan(folder: Path) -> list[Photo]:
    """Every photo under ``folder`` (hidden files and folders skipped), sorted, deduplicated."""
    photos: dict[str, Photo] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            photos.setdefault(digest, Photo(path, relative.as_posix(), digest))
    return list(photos.values())


def _ensure_collection(client: Client, name: str, space: str) -> Any:
    try:
        return client.collection(name)
    except ServiceError as error:
        if error.status != 404:
            raise
    print(f"creating collection {name!r} (space {space!r})", file=sys.stderr)
    return client.create_collection(name, space=space)


def _not_stored(
    client: Client, args: argparse.Namespace, photos: list[Photo], journal: journals.Journal,
    stored: int,
) -> list[Photo]:  # fmt: skip
    """The photos neither the journal nor the service knows."""
    unlisted = [p for p in photos if args.recheck or p.id not in journal]
    # The service holds nothing, or exactly the journal's items: no unlisted photo is there.
    if stored == 0 or (stored == len(journal) and not args.recheck):
        return unlisted
    todo = []
    for photo in unlisted:
        if client.has_item(args.collection, photo.id):
            journal.record([{"id": photo.id, "path": photo.relative}])
        else:
            todo.append(photo)
    return todo


def _send(
    client: Client, args: argparse.Namespace, todo: list[Photo], journal: journals.Journal,
    summary: Summary,
) -> int:  # fmt: skip
    size = max(1, args.batch_size or client.max_items)
    progress = Progress(len(todo))
    code = 0
    try:
        for start in range(0, len(todo), size):
            batch = todo[start : start + size]
            stored, failed = _add(client, args, batch)
            journal.record({"id": p.id, "path": p.relative} for p in stored)
            summary.sent += len(stored)
            summary.failed += failed
            progress.advance(len(batch))
    except KeyboardInterrupt:
        summary.interrupted = True
        code = INTERRUPTED
    finally:
        progress.close()
        summary.seconds = round(time.perf_counter() - progress.started, 3)
        summary.images_per_s = round(summary.sent / summary.seconds, 2) if summary.seconds else 0.0
    if code == 0 and summary.failed:
        code = 1
    return code


def _add(
    client: Client, args: argparse.Namespace, batch: list[Photo]
) -> tuple[list[Photo], list[dict[str, str]]]:
    """Store ``batch``; when the service rejects a photo, send them one by one to find which."""
    try:
        _store(client, args, batch)
        return batch, []
    except ServiceError as error:
        if error.status not in _PHOTO_ERRORS:
            raise
        if len(batch) == 1:
            return [], [{"path": batch[0].relative, "error": error.message}]
    stored: list[Photo] = []
    failed: list[dict[str, str]] = []
    for photo in batch:
        ok, bad = _add(client, args, [photo])
        stored += ok
        failed += bad
    return stored, failed


def _store(client: Client, args: argparse.Namespace, batch: list[Photo]) -> None:
    blobs = [p.path.read_bytes() for p in batch]
    ids = [hashlib.sha256(b).hexdigest() for b in blobs]  # the file may have changed since
    for photo, item_id in zip(batch, ids, strict=True):
        photo.id = item_id
    metadata = [_metadata(p, b, args.thumbnails) for p, b in zip(batch, blobs, strict=True)]
    client.add(args.collection, images=blobs, ids=ids, metadata=metadata)


def _metadata(photo: Photo, data: bytes, thumbnails: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"path": photo.relative, "filename": photo.path.name}
    small = thumbnail(data) if thumbnails else None
    if small:
        meta["thumbnail"] = small
    return meta


def thumbnail(data: bytes, size: int = _THUMB_PX) -> str | None:
    """A small JPEG of the image as a data URI (the web page shows it), ``None`` if unreadable."""
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise SystemExit(
            "error: --thumbnails needs Pillow: pip install 'mapping-serve-client[images]'"
        ) from None
    buffer = io.BytesIO()
    try:
        with PILImage.open(io.BytesIO(data)) as image:
            image.thumbnail((size, size))
            image.convert("RGB").save(buffer, format="JPEG", quality=75)
    except (OSError, ValueError):  # the service will say what is wrong with the file
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _report(summary: Summary, args: argparse.Namespace) -> None:
    failed = f", {len(summary.failed)} failed" if summary.failed else ""
    state = "interrupted" if summary.interrupted else "done"
    rate = f"{summary.seconds:.1f} s ({summary.images_per_s:.1f} images/s)"
    print(f"{state}: sent {summary.sent}, skipped {summary.skipped}{failed} in {rate}",
          file=sys.stderr)  # fmt: skip
    for failure in summary.failed:
        print(f"  failed: {failure['path']}: {failure['error']}", file=sys.stderr)
    if summary.interrupted:
        print("re-run the same command to send the rest", file=sys.stderr)
    if args.json:
        as_json(summary)
