"""The shapes world: vocabulary, scene sampling and the held-out (shape, colour) split.

A scene is one to three objects, each with a shape, a colour, a size, a position and a
rotation, on a tinted noisy background. Everything is drawn from a ``numpy`` generator, so
the same seed gives the same scenes. Some (shape, colour) combinations never appear in
training (``heldout_combos``): the held-out split then measures composition, not memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "heart",
    "crescent",
    "ring",
    "arrow",
    "semicircle",
)
COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple")
SIZES: tuple[str, ...] = ("small", "large")

# Base RGB of each colour; a small per-object jitter is added when rendering.
COLOR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (45, 80, 230),
    "yellow": (235, 215, 40),
    "purple": (160, 50, 200),
}
# Object radius as a fraction of the image side, per size: far apart so size is learnable.
SIZE_RADIUS: dict[str, tuple[float, float]] = {"small": (0.12, 0.15), "large": (0.21, 0.27)}

Combo = tuple[int, int]  # (shape index, colour index)

#: Split names. ``train`` holds only seen combos; ``heldout`` queries only held-out ones.
TRAIN_SPLIT = "train"
HELDOUT_SPLIT = "heldout"
SEEN_SPLIT = "seen"  # fresh scenes of seen combinations (in-distribution check)


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene (positions and radius in pixels of the rendered image)."""

    shape: int
    color: int
    size: int
    x: float
    y: float
    radius: float
    angle: float

    @property
    def combo(self) -> Combo:
        return (self.shape, self.color)


@dataclass(frozen=True)
class Scene:
    """The objects of one image and its background tint (RGB, 0-255)."""

    objects: tuple[ShapeObject, ...]
    background: tuple[int, int, int]


def heldout_combos(n_heldout: int = 10, seed: int = 0) -> frozenset[Combo]:
    """The (shape, colour) pairs kept out of training.

    With ``n_heldout == len(SHAPES)`` every shape loses exactly one colour and every colour is
    held out for the same number of shapes, so no shape or colour is unseen on its own.
    """
    rng = np.random.default_rng(seed)
    shape_order = rng.permutation(len(SHAPES))[:n_heldout]
    offset = int(rng.integers(len(COLORS)))
    return frozenset((int(s), (i + offset) % len(COLORS)) for i, s in enumerate(shape_order))


def all_combos() -> list[Combo]:
    return [(s, c) for s in range(len(SHAPES)) for c in range(len(COLORS))]


def split_combos(heldout: frozenset[Combo]) -> tuple[list[Combo], list[Combo]]:
    """(seen, held-out) combinations, each sorted."""
    seen = [c for c in all_combos() if c not in heldout]
    return seen, sorted(heldout)


def _place(
    rng: np.random.Generator, radii: list[float], image_size: int, tries: int = 32
) -> list[tuple[float, float]] | None:
    """Centres for objects of the given radii, inside the image and not overlapping."""
    centres = np.empty((0, 2))
    placed: list[float] = []
    for r in radii:
        cand = rng.uniform(r + 1, image_size - r - 1, size=(tries, 2))  # (tries, 2)
        gap = np.asarray(placed) + r + 2  # (k,)
        dist = np.linalg.norm(cand[:, None, :] - centres[None, :, :], axis=2)  # (tries, k)
        ok = np.flatnonzero((dist > gap).all(axis=1))
        if ok.size == 0:
            return None
        centres = np.vstack([centres, cand[ok[0]]])
        placed.append(r)
    return [(float(x), float(y)) for x, y in centres]


def _background(rng: np.random.Generator) -> tuple[int, int, int]:
    """A low-saturation tint, so every object colour stays readable against it."""
    grey = rng.uniform(50, 200)
    tint = rng.normal(0, 12, size=3)
    return tuple(int(v) for v in np.clip(grey + tint, 0, 255))  # type: ignore[return-value]


def sample_scene(
    rng: np.random.Generator,
    combos: list[Combo],
    image_size: int,
    n_objects: int = 1,
    distinct_colors: bool = False,
    others: list[Combo] | None = None,
) -> Scene:
    """One scene; the first object's (shape, colour) comes from ``combos``.

    The other objects come from ``others`` (default ``combos``). With ``distinct_colors`` no
    two objects share a colour, which binding questions ("the red one") need.
    """
    while True:
        picks = _pick_combos(rng, combos, others or combos, n_objects, distinct_colors)
        sizes = rng.integers(len(SIZES), size=n_objects)
        radii = [float(rng.uniform(*SIZE_RADIUS[SIZES[s]])) * image_size for s in sizes]
        centres = _place(rng, radii, image_size)
        if centres is not None:
            break
    angles = rng.uniform(0, 360, size=n_objects)
    objects = tuple(
        ShapeObject(s, c, int(z), x, y, r, float(a))
        for (s, c), z, (x, y), r, a in zip(picks, sizes, centres, radii, angles, strict=True)
    )
    return Scene(objects, _background(rng))


def _pick_combos(
    rng: np.random.Generator,
    first: list[Combo],
    others: list[Combo],
    n: int,
    distinct_colors: bool,
) -> list[Combo]:
    picks: list[Combo] = []
    while len(picks) < n:
        pool = others if picks else first
        combo = pool[int(rng.integers(len(pool)))]
        if distinct_colors and any(combo[1] == p[1] for p in picks):
            continue
        picks.append(combo)
    return picks
