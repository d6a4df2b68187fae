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

from training.errors import FitInputError
from training.methods.data import Examples

RESERVED = ("image", "text")
EVAL_SPLIT = "eval"


def read_numbered(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for each non-blank line; errors name the file and line."""
    if not path.is_file():
        raise FitInputError("the JSONL data file does not exist", path)
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FitInputError(f"not valid JSON ({exc.msg})", path, number) from exc
        if not isinstance(record, dict):
            raise FitInputError("expected a JSON object", path, number)
        records.append((number, record))
    if not records:
        raise FitInputError("holds no examples", path)
    return records


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return shown + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


def _check_fields(path: Path, numbered: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """The label fields; every line must have an image and every label field."""
    no_image = [n for n, r in numbered if "image" not in r]
    if no_image:
        raise FitInputError(
            f"no `image` path (every line needs one; also on lines {_lines(no_image)})",
            path,
            no_image[0],
        )
    tasks = sorted({k for _n, r in numbered for k in r if k not in RESERVED})
    for task in tasks:
        lacking = [n for n, r in numbered if task not in r]
        if lacking:
            raise FitInputError(
                f"label field {task!r} is missing ({len(lacking)} of {len(numbered)} lines "
                f"lack it: {_lines(lacking)}); give every line every label field",
                path,
                lacking[0],
            )
    return tasks


def _load_image(path: Path, size: int, source: Path, line: int) -> np.ndarray:
    if not path.is_file():
        raise FitInputError(f"image {path} does not exist (paths are relative to the JSONL file)",
                            source, line)  # fmt: skip
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    except OSError as exc:
        raise FitInputError(f"image {path} cannot be read ({exc})", source, line) from exc


def _in_eval(record: dict[str, Any], index: int) -> bool:
    key = f"{record.get('text', '')}|{record.get('image', index)}"
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 5 == 0


def _examples(
    numbered: list[tuple[int, dict[str, Any]]],
    source: Path,
    split: str,
    size: int,
    classes: dict[str, list[str]],
) -> Examples:
    records = [r for _n, r in numbered]
    images = np.stack(
        [_load_image(source.parent / str(r["image"]), size, source, n) for n, r in numbered]
    )
    texts = [str(r["text"]) for r in records] if all("text" in r for r in records) else None
    labels = {
        task: np.array([names.index(str(r[task])) for r in records], dtype=np.int64)
        for task, names in classes.items()
    }
    keys = [(str(r.get("text", "")),) for r in records]
    return Examples(split, images, texts, labels, classes, keys)


def load_jsonl(path: Path, image_size: int) -> tuple[Examples, Examples]:
    """(train, eval) examples from a JSONL manifest. Tiny files reuse train as eval."""
    numbered = read_numbered(path)
    tasks = _check_fields(path, numbered)
    classes = {t: sorted({str(r[t]) for _n, r in numbered}) for t in tasks}
    flags = [_in_eval(r, i) for i, (_n, r) in enumerate(numbered)]
    train = [x for x, f in zip(numbered, flags, strict=True) if not f]
    held = [x for x, f in zip(numbered, flags, strict=True) if f]
    if len(train) < 2 or len(held) < 2:
        train, held = numbered, numbered  # too small to split: evaluate on the training data
    return (
        _examples(train, path, "train", image_size, classes),
        _examples(held, path, EVAL_SPLIT, image_size, classes),
    )
