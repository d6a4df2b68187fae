"""Image decoding; the tensor transform itself is the contract's (``contract.preprocess``).

Decoding is defensive: only JPEG, PNG and WebP; the pixel count is checked from the header
before any pixel data is decoded (decompression bombs); truncated or corrupt files are a 4xx.

Decoding does only the work the model needs. A JPEG much larger than the model's input is decoded at
a reduced scale by libjpeg-turbo's DCT scaling (``simplejpeg``), never below what the manifest's
resize asks for (times :data:`SCALE_MARGIN`), then resized and cropped by the contract's transform,
which resamples only the crop's region (``crop_only``). A 1920x1280 photo for a 256/224 model
decodes at 480x320, a sixteenth of the pixels to convert and resize; over the photos the build
has, the top-1 answers agree with the full decode's on 99.5% (README "Performance").
Everything the fast path does not take (PNG, WebP, CMYK JPEG, a JPEG libjpeg-turbo rejects) goes
through Pillow at full size, which also renders the errors.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import simplejpeg
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from contract.manifest import ImageInput
from contract.preprocess import image_tensor
from service.errors import InvalidInputError, PayloadTooLargeError, UnsupportedMediaError

__all__ = ["FORMATS", "SCALE_MARGIN", "decode_image", "image_input", "image_tensor", "needed_size"]

FORMATS = ("JPEG", "PNG", "WEBP")
# Scaled decode keeps at least this many times the pixels the resize needs per side, so the
# bicubic resize still does the last (anti-aliased) step. bench/decode.py measures the choice
# over the 217 pictures of the int8 gate's photos: 1.25 moves the top-1 of one (a crop of the
# Hubble deep field whose first two classes are 0.023 apart), 1.0 of four; 2.0 of none, but it
# decodes a 1920x1280 photo at 960x640 where 1.25 takes 480x320 (6.5 -> 4.3 ms, one thread).
SCALE_MARGIN = 1.25
# What Pillow's ImageOps.exif_transpose does per EXIF orientation, for the pixels simplejpeg made.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_FAST_MODES = ("RGB", "L")  # JPEG colour modes simplejpeg turns into RGB (CMYK goes to Pillow)


def image_input(data: bytes, spec: ImageInput, max_pixels: int) -> np.ndarray:
    """Encoded image bytes to the float32 ``(3, H, W)`` tensor ``spec`` describes (or a 4xx)."""
    picture = decode_image(data, max_pixels, at_least=needed_size(spec))
    return image_tensor(picture, spec, crop_only=True)


def needed_size(spec: ImageInput) -> tuple[int, int] | int:
    """What the transform needs of a picture: the shorter side (an int) or ``(height, width)``."""
    if spec.resize is None or spec.crop == "none":
        return spec.size[0], spec.size[1]
    return spec.resize


def decode_image(
    data: bytes, max_pixels: int, *, at_least: tuple[int, int] | int | None = None
) -> Image.Image:
    """Decode JPEG/PNG/WebP bytes to an upright RGB image, or raise a 4xx ``ServiceError``.

    The scaled JPEG path returns mode ``RGBX`` (RGB and a padding byte, mapped without a copy);
    ``image_tensor`` takes it as it takes ``RGB``.

    Args:
        data: the encoded file.
        max_pixels: the largest ``width * height`` accepted (checked from the header).
        at_least: when given, a JPEG may be decoded smaller, down to this shorter side (an int)
            or ``(height, width)`` of the upright picture, times :data:`SCALE_MARGIN`; the
            full size when omitted.
    """
    if not data:
        raise InvalidInputError("the image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)  # reads the header only
            _check_pixels(image, max_pixels)
            if at_least is not None and image.format == "JPEG" and image.mode in _FAST_MODES:
                scaled = _scaled_jpeg(data, image, at_least)
                if scaled is not None:
                    return scaled
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


def _scaled_jpeg(
    data: bytes, header: Image.Image, at_least: tuple[int, int] | int
) -> Image.Image | None:
    """The JPEG decoded by simplejpeg at the smallest DCT scale that keeps ``at_least``; None
    when libjpeg-turbo rejects the file (Pillow then decodes it, or says what is wrong)."""
    orientation = int(header.getexif().get(ExifTags.Base.Orientation, 1))
    width, height = header.size  # as stored, before the EXIF orientation
    swap = orientation in (5, 6, 7, 8)
    min_height, min_width = _stored_minimum(width, height, at_least, swap=swap)
    try:
        pixels = simplejpeg.decode_jpeg(
            data, colorspace="RGBX", min_height=min_height, min_width=min_width
        )
    except ValueError:  # corrupt, truncated or unusual: the Pillow path handles (or reports) it
        return None
    # RGBX is the layout Pillow keeps RGB in (a padding byte per pixel), so Pillow maps these
    # pixels as they are; RGB from simplejpeg would be copied and repacked (0.11 ms for china.jpg)
    height, width = pixels.shape[:2]
    image = Image.frombuffer("RGBX", (width, height), pixels, "raw", "RGBX", 0, 1)
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _stored_minimum(
    width: int, height: int, at_least: tuple[int, int] | int, *, swap: bool
) -> tuple[int, int]:
    """``(min_height, min_width)`` for simplejpeg: the stored size divided by the largest of
    2, 4 or 8 that keeps ``at_least`` x the margin; the full size (0, 0) when none does.

    Only these factors: libjpeg-turbo's other scales (3/8, 5/8, ...) are slower per pixel and
    change the pixels of pictures barely larger than the model needs more than they save.
    """
    if isinstance(at_least, int):  # the shorter side, whichever way the picture is turned
        room = min(width, height) / (SCALE_MARGIN * at_least)
    else:
        want_h, want_w = at_least
        if swap:  # turned by 90 degrees: the upright height is the stored width
            want_h, want_w = want_w, want_h
        room = min(height / want_h, width / want_w) / SCALE_MARGIN
    factor = next((f for f in (8, 4, 2) if room >= f), 1)
    if factor == 1:
        return 0, 0  # simplejpeg ignores minimums <= 0: the full size
    return math.ceil(height / factor), math.ceil(width / factor)


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise PayloadTooLargeError(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            limit=max_pixels,
        )
