"""Image decoding and the tensor transform a manifest's ``ImageInput`` describes.

Decoding is defensive: only JPEG, PNG and WebP; the pixel count is checked from the header
before any pixel data is decoded (decompression bombs); truncated or corrupt files are a 4xx.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from service.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError
from service.manifest import ImageInput

FORMATS = ("JPEG", "PNG", "WEBP")
_RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


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


def image_tensor(image: Image.Image, spec: ImageInput) -> np.ndarray:
    """Resize, crop and normalise as ``spec`` says; returns float32 ``(3, H, W)``."""
    height, width = spec.size
    resample = _RESAMPLE[spec.interpolation]
    if spec.resize is None or spec.crop == "none":
        image = image.resize((width, height), resample)
    else:
        image = _resize_shorter(image, spec.resize, resample)
        image = _center_crop(image, height, width)
    pixels = np.asarray(image).transpose(2, 0, 1)  # (3, H, W) view of the uint8 pixels
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    # (pixels - mean) / std, written straight into one contiguous float32 array (no temporaries)
    out = np.empty(pixels.shape, dtype=np.float32)
    np.subtract(pixels, mean, out=out, dtype=np.float32)
    return np.divide(out, std, out=out)


def _resize_shorter(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """Scale so the shorter side is ``size`` (torchvision ``Resize(int)`` semantics)."""
    width, height = image.size
    if width <= height:
        new = (size, max(1, int(size * height / width)))
    else:
        new = (max(1, int(size * width / height)), size)
    return image.resize(new, resample)


def _center_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """Crop the centre (torchvision ``CenterCrop`` rounding); pads with black when too small."""
    img_w, img_h = image.size
    if img_w < width or img_h < height:
        canvas = Image.new("RGB", (max(img_w, width), max(img_h, height)))
        canvas.paste(image, ((canvas.width - img_w) // 2, (canvas.height - img_h) // 2))
        image, img_w, img_h = canvas, canvas.width, canvas.height
    top = round((img_h - height) / 2.0)
    left = round((img_w - width) / 2.0)
    return image.crop((left, top, left + width, top + height))
