"""The resume journal of ``index``: the ids already stored, one JSON line each, written per batch.

It lives in ``~/.cache/mapping-serve/index/`` (``$XDG_CACHE_HOME`` when set), one file per
(service URL, collection, folder). Its first line records the collection's creation time: a
collection deleted and made again under the same name gets a new one, and the old journal is
then discarded instead of trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def default_path(url: str, collection: str, folder: Path) -> Path:
    """Where the journal of indexing ``folder`` into ``collection`` at ``url`` lives."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    key = hashlib.sha256(f"{url}\n{collection}\n{folder.resolve()}".encode()).hexdigest()[:20]
    return cache / "mapping-serve" / "index" / f"{collection}-{key}.jsonl"


class Journal:
    """The ids known to be stored in one collection, kept in an append-only file.

    Args:
        path: the journal file.
        header: what identifies the collection (URL, name, creation time); an existing file
            whose header differs is started afresh.
    """

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.ids: set[str] = set()
        previous = _read(path)
        if previous and previous[0] == header:
            self.ids = {line["id"] for line in previous[1:] if "id" in line}
            self._file = path.open("a", encoding="utf-8")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")
            self._write([header])

    def __contains__(self, item_id: str) -> bool:
        return item_id in self.ids

    def __len__(self) -> int:
        return len(self.ids)

    def record(self, entries: Iterable[dict[str, Any]]) -> None:
        """Note stored items (each ``{"id": ..., "path": ...}``) and flush at once."""
        fresh = [e for e in entries if e["id"] not in self.ids]
        self.ids.update(e["id"] for e in fresh)
        self._write(fresh)

    def close(self) -> None:
        self._file.close()

    def _write(self, lines: Iterable[dict[str, Any]]) -> None:
        for line in lines:
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._file.flush()


def _read(path: Path) -> list[dict[str, Any]]:
    """The journal's lines; a torn last line (killed mid-write) is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = []
    for raw in text.splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            break
    return lines
