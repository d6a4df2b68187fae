"""Shapes-world datasets for each method, deterministic from a seed and cached under .cache/.

Tasks:

* ``objects``: one object; labels ``shape``, ``color``, ``size``; text = a caption
  (multi-task learning and alignment).
* ``attribute``: one object; text = a question about its shape, colour or size; label
  ``answer`` over shapes + colours + sizes (fusion needs both modalities).
* ``binding``: two or three objects of distinct colours; the question names one by colour and
  asks its shape; label ``answer`` over the shapes.

Splits: ``train`` and ``seen`` use only seen (shape, colour) combinations; ``heldout`` asks
about objects of held-out combinations only (distractors in binding scenes stay seen), so
its accuracy measures composition.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from training.methods.data import Examples
from training.shapes import text as T
from training.shapes.render import render_scenes
from training.shapes.world import (
    COLORS,
    HELDOUT_SPLIT,
    SEEN_SPLIT,
    SHAPES,
    SIZES,
    TRAIN_SPLIT,
    Scene,
    heldout_combos,
    sample_scene,
    split_combos,
)

log = logging.getLogger(__name__)

TASKS = ("objects", "attribute", "binding")
SPLITS = (TRAIN_SPLIT, SEEN_SPLIT, HELDOUT_SPLIT)
# Bump when rendering or templates change, so stale caches are not reused.
GENERATOR_VERSION = 1
DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "shapes"


@dataclass(frozen=True)
class ShapesSpec:
    """Which examples to generate; equal specs give identical examples."""

    task: str
    split: str
    n: int
    image_size: int = 64
    seed: int = 0
    heldout_seed: int = 0

    def cache_name(self) -> str:
        return (
            f"{self.task}-{self.split}-n{self.n}-s{self.image_size}-seed{self.seed}"
            f"-h{self.heldout_seed}-v{GENERATOR_VERSION}.npz"
        )

    def rng(self) -> np.random.Generator:
        salt = zlib.crc32(f"{self.task}/{self.split}".encode())
        return np.random.default_rng([self.seed, self.heldout_seed, salt])


def _scenes(spec: ShapesSpec, rng: np.random.Generator) -> list[Scene]:
    seen, held = split_combos(heldout_combos(seed=spec.heldout_seed))
    first = held if spec.split == HELDOUT_SPLIT else seen
    scenes = []
    for _ in range(spec.n):
        n_objects = int(rng.integers(2, 4)) if spec.task == "binding" else 1
        scenes.append(
            sample_scene(rng, first, spec.image_size, n_objects, distinct_colors=True, others=seen)
        )
    return scenes


def _annotate(spec: ShapesSpec, scenes: list[Scene], rng: np.random.Generator) -> Examples:
    targets = [s.objects[0] for s in scenes]
    keys = [(o.shape, o.color, o.size) for o in targets]
    if spec.task == "objects":
        p_size = 0.8 if spec.split == TRAIN_SPLIT else 1.0  # eval captions always name the size
        texts = [T.caption(o, rng, p_size) for o in targets]
        labels = {
            "shape": np.array([o.shape for o in targets]),
            "color": np.array([o.color for o in targets]),
            "size": np.array([o.size for o in targets]),
        }
        classes = {"shape": list(SHAPES), "color": list(COLORS), "size": list(SIZES)}
        return Examples(spec.split, None, texts, labels, classes, keys)
    if spec.task == "attribute":
        pairs = [T.attribute_question(o, rng) for o in targets]
        answers: list[str] = list(T.ATTRIBUTE_ANSWERS)
    else:
        pairs = [T.binding_question(o, rng) for o in targets]
        answers = list(SHAPES)
    labels = {"answer": np.array([answers.index(a) for _, a in pairs])}
    return Examples(spec.split, None, [q for q, _ in pairs], labels, {"answer": answers}, keys)


def generate(spec: ShapesSpec) -> Examples:
    """Render and annotate the examples of ``spec`` (no cache)."""
    if spec.task not in TASKS or spec.split not in SPLITS:
        raise ValueError(
            f"unknown task/split {spec.task}/{spec.split}; tasks {TASKS}, splits {SPLITS}"
        )
    rng = spec.rng()
    scenes = _scenes(spec, rng)
    examples = _annotate(spec, scenes, rng)
    examples.images = render_scenes(scenes, spec.image_size, rng)
    for task in examples.labels:
        examples.labels[task] = examples.labels[task].astype(np.int64)
    return examples


def _save(path: Path, examples: Examples) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        "images": examples.images,
        "texts": np.array(examples.texts),
        "keys": np.array(examples.keys),
        **{f"label_{t}": v for t, v in examples.labels.items()},
    }
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _load(path: Path, spec: ShapesSpec) -> Examples:
    template = _annotate(spec, [], np.random.default_rng(0))  # class names only
    with np.load(path) as data:
        labels = {k[6:]: data[k] for k in data.files if k.startswith("label_")}
        return Examples(
            spec.split,
            data["images"],
            [str(t) for t in data["texts"]],
            labels,
            template.classes,
            [tuple(int(v) for v in k) for k in data["keys"]],
        )


def load(spec: ShapesSpec, cache_dir: Path | None = DEFAULT_CACHE) -> Examples:
    """``generate`` with an on-disk cache (``cache_dir=None`` disables it)."""
    path = cache_dir / spec.cache_name() if cache_dir is not None else None
    if path is not None and path.is_file():
        return _load(path, spec)
    examples = generate(spec)
    if path is not None:
        try:
            _save(path, examples)
        except OSError as exc:  # a read-only checkout still trains, just without a cache
            log.warning("could not cache %s: %s", path, exc)
    return examples
