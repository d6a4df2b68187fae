"""Image decoding; the tensor transform itself is the contract's (``contract.preprocess``).

Decoding is defensive: only JPEG, PNG and WebP; the pixel count is checked from the header
before any pixel data is decoded (decompression bombs); truncated or corrupt files are a 4xx.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError

from contract.preprocess import image_tensor
from service.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

__all__ = ["FORMATS", "decode_image", "image_tensor"]

FORMATS = ("JPEG", "PNG", "WEBP")


def decode_image(data: bytes, max_pixels: int) -> Image.Image:
    """Decode JPEG/PNG/WebP bytes to an upright RGB image, or raise a 4xx ``ServiceError``."""
    if not data:
        raise InvalidInputError("the image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
            _check_pixels(image, max_pixels)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # in place: no copy of the pixels
            return image if image.mode == "RGB" else image.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLargeError(f"the image is too large to decode safely ({exc})") from None
    except UnidentifiedImageError:
        raise UnsupportedMediaError(
            "the data is not an image the service reads (JPEG, PNG or WebP)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidInputError(
            f"the image could not be decoded (truncated or corrupt): {type(exc).__name__}"
        ) from None


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLargeError(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            limit=max_pixels,
        )
