"""Render shapes-world scenes to ``uint8`` RGB arrays with PIL.

Each object is drawn as a polygon mask on a 2x supersampled canvas (antialiasing), then
alpha-composited over a background in numpy. Backgrounds and noise are made for a whole chunk
of images at once (noise from a bank of tiles), so 20,000 images at 64x64 take a few seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from training.shapes.world import COLOR_RGB, COLORS, SHAPES, Scene, ShapeObject

SUPERSAMPLE = 2
_CHUNK = 2048

Polygon = list[tuple[float, float]]
# A shape is a list of (unit polygon, fill) strokes: fill 255 adds area, 0 cuts a hole.
Strokes = list[tuple[np.ndarray, int]]


def _regular(n: int, start: float = 90.0, radius: float = 1.0) -> np.ndarray:
    t = np.deg2rad(start + 360.0 * np.arange(n) / n)
    return np.stack([radius * np.cos(t), -radius * np.sin(t)], axis=1)


def _star() -> np.ndarray:
    outer = _regular(5, 90.0, 1.0)
    inner = _regular(5, 90.0 + 36.0, 0.42)
    return np.stack([outer, inner], axis=1).reshape(-1, 2)


def _cross(w: float = 0.34) -> np.ndarray:
    pts = [
        (-w, -1),
        (w, -1),
        (w, -w),
        (1, -w),
        (1, w),
        (w, w),
        (w, 1),
        (-w, 1),
        (-w, w),
        (-1, w),
        (-1, -w),
        (-w, -w),
    ]
    return np.array(pts, dtype=float) * 0.95


def _heart() -> np.ndarray:
    t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    return np.stack([x, -y - 2.5], axis=1) / 16.5


def _arrow() -> np.ndarray:
    pts = [(-1, -0.28), (0.1, -0.28), (0.1, -0.75), (1, 0), (0.1, 0.75), (0.1, 0.28), (-1, 0.28)]
    return np.array(pts, dtype=float)


def _semicircle() -> np.ndarray:
    t = np.linspace(0, math.pi, 25)
    arc = np.stack([np.cos(t), -np.sin(t)], axis=1)
    points: np.ndarray = arc * 1.05 + np.array([0.0, 0.35])
    return points


_CIRCLE = _regular(40)


def _shape_strokes() -> dict[str, Strokes]:
    return {
        "circle": [(_CIRCLE * 0.9, 255)],
        "square": [(_regular(4, 45.0) * 1.0, 255)],
        "triangle": [(_regular(3, 90.0) * 1.05 + np.array([0.0, 0.15]), 255)],
        "star": [(_star(), 255)],
        "cross": [(_cross(), 255)],
        "heart": [(_heart(), 255)],
        "crescent": [(_CIRCLE * 0.95, 255), (_CIRCLE * 0.8 + np.array([0.45, -0.1]), 0)],
        "ring": [(_CIRCLE * 0.95, 255), (_CIRCLE * 0.5, 0)],
        "arrow": [(_arrow(), 255)],
        "semicircle": [(_semicircle(), 255)],
    }


STROKES: dict[str, Strokes] = _shape_strokes()
assert set(STROKES) == set(SHAPES)


def _transform(unit: np.ndarray, obj: ShapeObject, origin: tuple[int, int]) -> Polygon:
    """Unit polygon -> supersampled pixel coordinates relative to ``origin`` (x0, y0)."""
    a = math.radians(obj.angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    pts = unit @ rot.T * obj.radius + np.array([obj.x - origin[0], obj.y - origin[1]])
    return [tuple(p) for p in (pts * SUPERSAMPLE).tolist()]


def object_patch(obj: ShapeObject, image_size: int) -> tuple[np.ndarray, int, int]:
    """The object's coverage in [0, 1] over its bounding box, and the box's (x0, y0).

    Drawn on a supersampled canvas and box-filtered down, which antialiases the edges.
    """
    reach = obj.radius * 1.1 + 1
    x0, y0 = max(int(obj.x - reach), 0), max(int(obj.y - reach), 0)
    x1 = min(math.ceil(obj.x + reach), image_size)
    y1 = min(math.ceil(obj.y + reach), image_size)
    canvas = Image.new("L", ((x1 - x0) * SUPERSAMPLE, (y1 - y0) * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(canvas)
    for unit, fill in STROKES[SHAPES[obj.shape]]:
        draw.polygon(_transform(unit, obj, (x0, y0)), fill=fill)
    alpha = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0  # (h, w)
    return alpha, x0, y0


def _noise_bank(rng: np.random.Generator, image_size: int, tiles: int = 128) -> np.ndarray:
    # Drawing fresh Gaussian noise for every image dominated the render time; a bank of
    # tiles, picked at random and scaled per image, looks the same to the networks.
    return rng.standard_normal((tiles, image_size, image_size, 3), dtype=np.float32)


def _backgrounds(scenes: Sequence[Scene], image_size: int, rng: np.random.Generator) -> np.ndarray:
    """Tinted backgrounds with a soft random gradient, (N, H, W, 3) float32."""
    n = len(scenes)
    tint = np.array([s.background for s in scenes], dtype=np.float32)[:, None, None, :]
    ramp = np.linspace(-1.0, 1.0, image_size, dtype=np.float32)
    slope = rng.uniform(-20.0, 20.0, size=(n, 2)).astype(np.float32)
    gradient = slope[:, 0, None, None] * ramp[None, :, None] + slope[:, 1, None, None] * ramp
    return tint + gradient[..., None]


def _object_rgb(obj: ShapeObject, rng: np.random.Generator) -> np.ndarray:
    base = np.array(COLOR_RGB[COLORS[obj.color]], dtype=np.float32)
    return np.clip(base + rng.normal(0.0, 12.0, size=3), 0, 255).astype(np.float32)


def _composite(img: np.ndarray, obj: ShapeObject, rng: np.random.Generator) -> None:
    alpha, x0, y0 = object_patch(obj, img.shape[0])
    region = img[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]]  # (h, w, 3) view
    a = alpha[..., None]
    region *= 1.0 - a
    region += a * _object_rgb(obj, rng)


def render_scenes(
    scenes: Sequence[Scene],
    image_size: int,
    rng: np.random.Generator,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Render scenes as a ``uint8`` array of shape (N, H, W, 3)."""
    out = np.empty((len(scenes), image_size, image_size, 3), dtype=np.uint8)
    bank = _noise_bank(rng, image_size)
    for start in range(0, len(scenes), _CHUNK):
        chunk = scenes[start : start + _CHUNK]
        images = _backgrounds(chunk, image_size, rng)  # (n, H, W, 3)
        for img, scene in zip(images, chunk, strict=True):
            for obj in scene.objects:
                _composite(img, obj, rng)
        sigma = rng.uniform(3.0, 18.0, size=(len(chunk), 1, 1, 1)).astype(np.float32)
        images += bank[rng.integers(len(bank), size=len(chunk))] * sigma
        out[start : start + len(chunk)] = np.clip(images, 0, 255).astype(np.uint8)
        if progress is not None:
            progress(len(chunk))
    return out
