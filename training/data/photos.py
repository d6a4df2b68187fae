"""Sample photos that scikit-image and scikit-learn ship, and manifest-driven preprocessing.

Used to evaluate the image tower (ImageNet labels, cross-modal ranking) without any download:
every photo here is a file inside an installed package. Batches go through the contract's
``image_tensor``, the very transform the service applies, so a test that runs an exported ONNX
file on them checks the manifest too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from contract.manifest import ImageInput
from contract.preprocess import image_tensor


@dataclass(frozen=True)
class SamplePhoto:
    """A packaged photo, a natural-language query that should find it, its acceptable labels."""

    name: str
    query: str
    labels: tuple[str, ...] = ()  # ImageNet labels that count as a correct top-1 (may be empty)


SAMPLE_PHOTOS: tuple[SamplePhoto, ...] = (
    SamplePhoto("chelsea", "a cat", ("tabby, tabby cat", "tiger cat", "Egyptian cat")),
    SamplePhoto("coffee", "a cup of coffee", ("espresso",)),
    SamplePhoto("rocket", "a rocket launch", ("missile", "projectile, missile")),
    SamplePhoto("astronaut", "an astronaut"),
    SamplePhoto("motorcycle_left", "a motorcycle"),
    SamplePhoto("horse", "a horse"),
    SamplePhoto("hubble_deep_field", "galaxies in deep space"),
    SamplePhoto("camera", "a man with a camera on a tripod"),
    SamplePhoto("page", "a page of printed text"),
    SamplePhoto("china", "a chinese palace", ("palace",)),
    SamplePhoto("flower", "a flower", ("daisy",)),
)


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        if name == "motorcycle_left":
            left, _right, _disparity = data.stereo_motorcycle()
            return np.asarray(left)
        return np.asarray(getattr(data, name)())

    return load


def _sklearn(filename: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return np.asarray(load_sample_image(filename))

    return load


def load_photo(name: str) -> Image.Image:
    """A sample photo as an 8-bit RGB PIL image (grey and binary pictures are expanded)."""
    loader = _sklearn(f"{name}.jpg") if name in ("china", "flower") else _skimage(name)
    array = loader()
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    return Image.fromarray(array).convert("RGB")


def sample_batch(spec: ImageInput, names: list[str] | None = None) -> np.ndarray:
    """The sample photos (all, or ``names``) preprocessed into one ``(N, 3, H, W)`` batch."""
    chosen = names or [p.name for p in SAMPLE_PHOTOS]
    return np.stack([image_tensor(load_photo(name), spec) for name in chosen])
