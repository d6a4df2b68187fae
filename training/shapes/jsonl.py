"""The shapes world as a ``fit`` JSONL dataset: PNG files plus one JSON line per example.

    python -m training.shapes.jsonl --out data/shapes --n 2000

writes ``<out>/data.jsonl`` and ``<out>/img/*.png`` for the ``objects`` task (labels ``shape``,
``color``, ``size``; text: the caption). Each caption ends with the example's number, so the
JSONL's content-hashed split (``training.methods.jsonl``) holds out a random fifth of the
examples rather than every copy of a few captions. Used by the data-parallel tests and the
1-vs-2-process timing in the README.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image

from training.shapes.datasets import ShapesSpec, generate
from training.shapes.world import TRAIN_SPLIT


def write_jsonl(out: Path, n: int, image_size: int = 32, seed: int = 0) -> Path:
    """Render ``n`` objects examples into ``out``; returns the JSONL path."""
    examples = generate(ShapesSpec("objects", TRAIN_SPLIT, n, image_size, seed))
    assert examples.images is not None and examples.texts is not None  # objects has both
    (out / "img").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (image, text) in enumerate(zip(examples.images, examples.texts, strict=True)):
        name = f"img/{i:05d}.png"
        Image.fromarray(image).save(out / name)
        labels = {t: examples.classes[t][int(v[i])] for t, v in examples.labels.items()}
        lines.append(json.dumps({"image": name, "text": f"{text} ({i})", **labels}))
    path = out / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.shapes.jsonl", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="directory to write")
    parser.add_argument("--n", type=int, default=2000, help="number of examples")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_jsonl(args.out, args.n, args.image_size, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
