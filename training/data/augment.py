"""Deterministic crops and mirror images of a photo: more calibration and gate samples per photo.

Each view is a crop of the original (the whole picture, four corners and the centre at smaller
scales) and its mirror image; the manifest's own resize and centre crop then run on every view,
so a view is what the service would make of a photo framed that way.
"""

from __future__ import annotations

from PIL import Image

# (scale of the shorter side, horizontal anchor, vertical anchor): 0 left/top, 1 right/bottom
CROPS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.5, 0.5),
    (0.85, 0.5, 0.5),
    (0.6, 0.5, 0.5),
    (0.75, 0.0, 0.0),
    (0.75, 1.0, 0.0),
    (0.75, 0.0, 1.0),
    (0.75, 1.0, 1.0),
)
VIEWS_PER_PHOTO = 2 * len(CROPS)


def crop(image: Image.Image, scale: float, ax: float, ay: float) -> Image.Image:
    """A box of ``scale`` times each side, placed by the anchors; scale 1 is the whole image."""
    width, height = image.size
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    left, top = round((width - w) * ax), round((height - h) * ay)
    return image.crop((left, top, left + w, top + h))


def views(image: Image.Image) -> list[Image.Image]:
    """The ``VIEWS_PER_PHOTO`` views of ``image``: each crop, then each crop mirrored."""
    crops = [crop(image, *spec) for spec in CROPS]
    return crops + [c.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for c in crops]
