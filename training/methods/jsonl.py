"""Bring your own data: a JSONL manifest, one example a line.

Each line is an object with ``image`` (a path relative to the JSONL file), ``text`` and one
field per task label, e.g. ``{"image": "img/01.png", "text": "a red star", "shape": "star"}``.
Label sets come from the data (sorted). Images are resized straight to the model's input size,
as the service does for a manifest with ``resize: null``. The split is fixed by content: a
line goes to ``eval`` when the SHA-1 of its text is 0 mod 5, so adding lines does not reshuffle.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from training.methods.data import Examples

RESERVED = ("image", "text")
EVAL_SPLIT = "eval"


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, skipping blank lines; errors name the line."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object")
        records.append(record)
    if not records:
        raise ValueError(f"{path} holds no examples")
    return records


def _load_image(path: Path, size: int) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"image {path} (named in the JSONL file) does not exist")
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def _in_eval(record: dict[str, Any], index: int) -> bool:
    key = f"{record.get('text', '')}|{record.get('image', index)}"
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 5 == 0


def _examples(
    records: list[dict[str, Any]], root: Path, split: str, size: int, classes: dict[str, list[str]]
) -> Examples:
    images = np.stack([_load_image(root / str(r["image"]), size) for r in records])
    texts = [str(r["text"]) for r in records] if all("text" in r for r in records) else None
    labels = {
        task: np.array([names.index(str(r[task])) for r in records], dtype=np.int64)
        for task, names in classes.items()
    }
    keys = [(str(r.get("text", "")),) for r in records]
    return Examples(split, images, texts, labels, classes, keys)


def load_jsonl(path: Path, image_size: int) -> tuple[Examples, Examples]:
    """(train, eval) examples from a JSONL manifest. Tiny files reuse train as eval."""
    records = read_records(path)
    tasks = sorted({k for r in records for k in r if k not in RESERVED})
    incomplete = [t for t in tasks if any(t not in r for r in records)]
    if incomplete:
        raise ValueError(f"{path}: label field(s) {incomplete} are missing on some lines")
    if any("image" not in r for r in records):
        raise ValueError(f"{path}: every line needs an `image` path")
    classes = {t: sorted({str(r[t]) for r in records}) for t in tasks}
    flags = [_in_eval(r, i) for i, r in enumerate(records)]
    train = [r for r, f in zip(records, flags, strict=True) if not f]
    held = [r for r, f in zip(records, flags, strict=True) if f]
    if len(train) < 2 or len(held) < 2:
        train, held = records, records  # too small to split: evaluate on the training data
    root = path.parent
    return (
        _examples(train, root, "train", image_size, classes),
        _examples(held, root, EVAL_SPLIT, image_size, classes),
    )
