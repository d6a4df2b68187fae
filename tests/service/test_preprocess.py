"""Preprocessing: image decoding guards, EXIF orientation, resize/crop/normalise, tokenisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contract.manifest import ImageInput, TextInput
from service.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError
from service.inference.images import decode_image, image_tensor
from service.inference.text import TextEncoder
from tests.service.media import bomb_png, encode, png
from tests.service.tiny_models import write_tokenizer


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


def test_tokenizer_truncates_lowercases_and_fills_companions(tmp_path: Path) -> None:
    write_tokenizer(tmp_path / "tokenizer.json")
    spec = TextInput(name="input_ids", shape=["batch", "sequence"], max_length=4, lowercase=True)
    encoder = TextEncoder(spec, tmp_path)
    short = encoder.encode("GOOD")
    assert short["text"].tolist()[0] == 2 and short["text"].tolist()[-1] == 3  # [CLS] .. [SEP]
    assert short["text"][1] != 1  # "GOOD" is known once lowercased, not [UNK]
    long = encoder.encode("good great happy love wonderful bad")
    assert len(long["text"]) == 4 and long["attention_mask"].tolist() == [1, 1, 1, 1]
    assert long["token_type_ids"].tolist() == [0, 0, 0, 0] and encoder.pad_id == 0
    with pytest.raises(InvalidInputError):
        encoder.encode("   ")
