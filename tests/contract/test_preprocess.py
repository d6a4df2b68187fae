"""One image transform for both halves: what training scores a model on is what it serves.

Training evaluates the exported image models on ``training.data.photos.sample_batch``; the
service decodes request bytes (``service.inference.images.decode_image``) and runs the
contract's ``image_tensor``. These tests hold the decoded pixels and the reference transform
equal, bit for bit, on the sample photos that ship with scikit-image and scikit-learn, and the
service's ``crop_only`` resampling within two levels of 255 of the reference.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from contract.manifest import ImageInput
from contract.preprocess import image_tensor
from service.inference.images import decode_image
from training.data.photos import SAMPLE_PHOTOS, load_photo, sample_batch
from training.defaults.vision import image_input

VISION = image_input()  # the default vision model's preprocessing (Lite weights' scaling)
SQUASH = ImageInput(name="image", shape=["batch", 3, 64, 64], size=(64, 64), resize=None)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # lossless: the service decodes the very same pixels
    return buffer.getvalue()


@pytest.mark.parametrize("spec", [VISION, SQUASH], ids=["resize-crop", "squash"])
def test_training_and_service_preprocessing_are_identical_on_the_sample_photos(
    spec: ImageInput,
) -> None:
    names = [photo.name for photo in SAMPLE_PHOTOS]
    trained_on = sample_batch(spec, names)
    served = np.stack(
        [image_tensor(decode_image(_png(load_photo(n)), 40_000_000), spec) for n in names]
    )
    assert trained_on.dtype == served.dtype == np.float32
    assert trained_on.shape == (len(names), 3, *spec.size)
    assert np.array_equal(trained_on, served)


def test_a_non_rgb_image_is_converted_before_the_transform() -> None:
    grey = Image.new("L", (300, 260), 200)
    out = image_tensor(grey, VISION)
    assert out.shape == (3, 224, 224)
    assert np.allclose(out, (200 - 127) / 128)


@pytest.mark.parametrize("crop_only", [False, True], ids=["reference", "crop-only"])
@pytest.mark.parametrize(
    "spec",
    [VISION, SQUASH, VISION.model_copy(update={"interpolation": "nearest"}),
     ImageInput(name="image", shape=[1, 3, 310, 320], size=(310, 320), resize=300)],
    ids=["resize-crop", "squash", "nearest", "padded"],
)  # fmt: skip
def test_rgbx_gives_what_rgb_gives(spec: ImageInput, crop_only: bool) -> None:
    """The scaled JPEG decode hands over RGBX (RGB and a padding byte): the same tensor, exactly."""
    rgb = load_photo("chelsea").convert("RGB")
    rgbx = rgb.convert("RGBX")
    assert rgbx.mode == "RGBX"
    expected = image_tensor(rgb, spec, crop_only=crop_only)
    assert np.array_equal(image_tensor(rgbx, spec, crop_only=crop_only), expected)


def test_an_image_smaller_than_the_crop_is_padded_with_black() -> None:
    small = Image.new("RGB", (10, 10), (255, 255, 255))
    spec = ImageInput(name="image", shape=[1, 3, 8, 12], size=(8, 12), resize=8)
    out = image_tensor(small, spec)  # resized to 8x8, then padded to 12 wide
    assert out.shape == (3, 8, 12)
    assert np.allclose(out[:, :, 0], 0.0) and np.allclose(out[:, :, 2:10], 255.0)


def test_resampling_only_the_crop_matches_resize_then_crop() -> None:
    """``resized_crop`` against the two steps it replaces, on every sample photo and its views."""
    from contract.preprocess import RESAMPLE, center_crop, resize_shorter, resized_crop
    from training.data.augment import views

    differing = total = 0
    for photo in SAMPLE_PHOTOS:
        for view in views(load_photo(photo.name).convert("RGB")):
            for size, crop in [(256, 224), (40, 32)]:
                for resample in RESAMPLE.values():
                    reference = np.asarray(
                        center_crop(resize_shorter(view, size, resample), crop, crop), dtype=int
                    )
                    fast = np.asarray(resized_crop(view, size, crop, crop, resample), dtype=int)
                    assert fast.shape == reference.shape
                    assert np.abs(fast - reference).max() <= 2, photo.name
                    differing += int(np.count_nonzero(fast != reference))
                    total += reference.size
    assert differing / total < 5e-4  # measured 1.0e-4 over the three


def test_a_resize_smaller_than_the_crop_still_pads() -> None:
    from contract.preprocess import RESAMPLE, resized_crop

    small = Image.new("RGB", (10, 20), (255, 255, 255))
    out = np.asarray(resized_crop(small, 8, 12, 12, RESAMPLE["bicubic"]))
    assert out.shape == (12, 12, 3)
    assert (out[:, :2] == 0).all() and (out[:, 2:10] == 255).all()
