"""Image decoding guards, EXIF orientation, and the resize/crop/normalise transform as served."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from contract.manifest import ImageInput
from service.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError
from service.inference.images import SCALE_MARGIN, decode_image, image_input, image_tensor
from tests.service.media import bomb_png, encode, png


def _spec(**fields: object) -> ImageInput:
    values: dict[str, object] = {"name": "image", "shape": ["batch", 3, 4, 4], "size": (4, 4)}
    values.update(fields)
    return ImageInput(**values)  # type: ignore[arg-type]


def test_exif_orientation_is_applied() -> None:
    wide = Image.new("RGB", (60, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    upright = decode_image(encode(wide, "JPEG", exif=exif), 10_000)
    assert upright.size == (20, 60) and upright.mode == "RGB"


def test_modes_are_converted_to_rgb() -> None:
    for mode in ("L", "RGBA", "P", "1"):
        image = decode_image(encode(Image.new(mode, (5, 5)), "PNG"), 10_000)
        assert image.mode == "RGB"


def test_decompression_bombs_are_refused_before_decoding() -> None:
    with pytest.raises(PayloadTooLargeError):
        decode_image(bomb_png(3000, 3000), max_pixels=1_000_000)
    with pytest.raises(PayloadTooLargeError):
        decode_image(png(size=(50, 50)), max_pixels=2499)
    assert decode_image(png(size=(50, 50)), max_pixels=2500).size == (50, 50)


def test_unreadable_data_is_a_4xx() -> None:
    with pytest.raises(UnsupportedMediaError):
        decode_image(b"GIF89a....", 10_000)
    with pytest.raises(InvalidInputError):
        decode_image(png()[:60], 10_000)


def test_resize_shorter_side_then_center_crop_and_normalise() -> None:
    image = Image.new("RGB", (8, 4), (0, 0, 0))
    image.paste((255, 255, 255), (3, 0, 5, 4))  # a white band in the middle columns
    tensor = image_tensor(image, _spec(resize=4, mean=(127.5,) * 3, std=(127.5,) * 3,
                                       interpolation="nearest"))  # fmt: skip
    assert tensor.shape == (3, 4, 4) and tensor.dtype == np.float32
    assert tensor.min() == pytest.approx(-1.0) and tensor.max() == pytest.approx(1.0)
    assert (tensor[:, :, 1:3] == 1.0).all() and (tensor[:, :, 0] == -1.0).all()


def test_resize_none_squashes_to_size() -> None:
    tensor = image_tensor(Image.new("RGB", (40, 10), (10, 20, 30)), _spec())
    assert tensor.shape == (3, 4, 4)
    assert tensor[:, 0, 0].tolist() == [10.0, 20.0, 30.0]


# -- the scaled JPEG decode (simplejpeg) -----------------------------------------------------


def _gradient(size: tuple[int, int]) -> Image.Image:
    """A smooth picture with a red left half, so scaling and turning are both visible."""
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    rgb = np.stack([x, x[::-1], np.full_like(x, 60)], axis=-1).astype(np.uint8)
    rgb[:, : width // 2] = (230, 20, 20)
    return Image.fromarray(rgb)


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_but_never_below_what_the_resize_needs() -> None:
    data = encode(_gradient((1600, 1200)), "JPEG", quality=90)
    full = decode_image(data, 10_000_000)
    scaled = decode_image(data, 10_000_000, at_least=150)
    assert full.size == (1600, 1200)
    assert scaled.size == (400, 300)  # 1/4: 1/8 would leave 150 < SCALE_MARGIN x 150
    assert min(decode_image(data, 10_000_000, at_least=(100, 500)).size) >= 100 * SCALE_MARGIN
    assert decode_image(data, 10_000_000, at_least=2000).size == (1600, 1200)  # never scaled up


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_scaled_decode_turns_the_picture_as_exif_says(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(_gradient((800, 400)), "JPEG", quality=95, exif=exif)
    reference = np.asarray(decode_image(data, 10_000_000).resize((80, 80)), dtype=np.float32)
    fast = decode_image(data, 10_000_000, at_least=50)
    assert fast.mode == "RGBX" and max(fast.size) < 800  # the fast path, at a reduced scale
    assert fast.size[0] > fast.size[1] if orientation in (1, 3) else fast.size[0] < fast.size[1]
    turned = np.asarray(fast.resize((80, 80)), dtype=np.float32)[:, :, :3]
    assert np.abs(turned - reference).mean() < 4.0  # same picture, same way up


def test_grey_jpegs_take_the_fast_path_and_cmyk_ones_pillow() -> None:
    grey = decode_image(encode(Image.new("L", (800, 600), 90), "JPEG"), 10_000_000, at_least=100)
    assert grey.mode == "RGBX" and 100 * SCALE_MARGIN <= min(grey.size) < 600  # the fast path
    cmyk = Image.new("CMYK", (800, 600), (0, 255, 255, 0))
    red = decode_image(encode(cmyk, "JPEG"), 10_000_000, at_least=100)
    assert red.mode == "RGB" and red.size == (800, 600)  # Pillow, full size


def test_the_fast_path_keeps_the_limits_and_the_errors() -> None:
    data = encode(_gradient((400, 300)), "JPEG")
    with pytest.raises(PayloadTooLargeError):
        decode_image(data, 400 * 300 - 1, at_least=50)
    with pytest.raises(InvalidInputError):
        decode_image(data[: len(data) // 2], 10_000_000, at_least=50)  # truncated: a 4xx
    with pytest.raises(InvalidInputError):
        decode_image(data[:100], 10_000_000, at_least=50)


def test_image_input_matches_the_reference_transform_on_a_large_photo() -> None:
    spec = _spec(shape=["batch", 3, 56, 56], size=(56, 56), resize=64, interpolation="bicubic",
                 mean=(127.0,) * 3, std=(128.0,) * 3)  # fmt: skip
    data = encode(_gradient((1024, 768)), "JPEG", quality=92)
    reference = image_tensor(decode_image(data, 10_000_000), spec)
    served = image_input(data, spec, 10_000_000)
    assert served.shape == reference.shape == (3, 56, 56)
    assert np.abs(served - reference).max() < 0.1  # under 13 of 255 grey levels, anywhere
