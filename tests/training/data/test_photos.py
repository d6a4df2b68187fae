"""The sample photos load from installed packages and are preprocessed as the manifest says."""

from __future__ import annotations

import numpy as np
from PIL import Image

from contract.preprocess import image_tensor as preprocess
from training.data.photos import SAMPLE_PHOTOS, load_photo
from training.defaults.vision import image_input

SPEC = image_input()  # the default vision model's preprocessing (Lite weights' scaling)


def test_preprocess_follows_the_manifest():
    flat = Image.new("RGB", (640, 480), (255, 127, 0))
    out = preprocess(flat, SPEC)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32
    assert np.allclose(out[:, 100, 100], [(255 - 127) / 128, 0.0, -127 / 128])


def test_every_sample_photo_loads_from_the_installed_packages():
    assert len(SAMPLE_PHOTOS) == 11
    for photo in SAMPLE_PHOTOS:
        image = load_photo(photo.name)
        assert image.mode == "RGB" and min(image.size) >= 100, photo.name
