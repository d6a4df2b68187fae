"""A shapes-world split as a JSONL dataset, the format ``python -m training fit`` reads.

    python -m training.shapes.jsonl --task objects --n 2000 --out data/shapes
    python -m training fit --config lit_image_locked --data data/shapes/data.jsonl --name shapes-lit

Each example becomes ``img/<index>.png`` and one line with its ``text`` (a caption for
``objects``, a question for ``attribute`` and ``binding``) and its labels by class name, so
every method, LiT included, can train on data this repository generates (synthetic, and said
so: see ``training.shapes.world``). ``--number-texts`` ends each text with the example's
number, so the JSONL's content-hashed split (``training.methods.jsonl``) holds out a random
fifth of the examples rather than every copy of a few captions (the data-parallel tests and
the 1-vs-2-process timing in the README use it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from PIL import Image

from training.methods.data import Examples
from training.shapes.datasets import SPLITS, TASKS, ShapesSpec, load

log = logging.getLogger(__name__)

DATA_FILE = "data.jsonl"


def write_jsonl(examples: Examples, out: Path, number_texts: bool = False) -> Path:
    """Write ``examples`` as ``out/data.jsonl`` and ``out/img/*.png``; returns the JSONL path.
    ``number_texts`` appends `` (<index>)`` to each text (see the module docstring)."""
    if examples.images is None or examples.texts is None:
        raise ValueError("a JSONL dataset needs images and texts")
    (out / "img").mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(len(examples) - 1)))  # img/00000.png: names sort in order
    lines = []
    for i, (image, text) in enumerate(zip(examples.images, examples.texts, strict=True)):
        name = f"img/{i:0{width}d}.png"
        Image.fromarray(image).save(out / name)
        labels = {t: examples.classes[t][int(v[i])] for t, v in examples.labels.items()}
        if number_texts:
            text = f"{text} ({i})"
        lines.append(json.dumps({"image": name, "text": text, **labels}))
    path = out / DATA_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.shapes.jsonl",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--task", choices=TASKS, default="objects")
    parser.add_argument("--split", choices=SPLITS, default="train")
    parser.add_argument("--n", type=int, default=2000, help="number of examples")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="folder to write")
    parser.add_argument("--number-texts", action="store_true", help="end each text with its number")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    spec = ShapesSpec(args.task, args.split, args.n, args.image_size, args.seed)
    path = write_jsonl(load(spec), args.out, args.number_texts)
    log.info("wrote %d examples to %s", args.n, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
