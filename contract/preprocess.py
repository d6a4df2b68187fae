"""The image transform that a manifest's ``ImageInput`` describes: one function, both halves.

The service runs it on every decoded request image; training runs it to evaluate and calibrate
exported models. Because it is the same function, what a model is scored on at export is what it
is served. Rounding follows torchvision's ``Resize(int)`` and ``CenterCrop``.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from contract.manifest import ImageInput

RESAMPLE = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
}


def image_tensor(image: Image.Image, spec: ImageInput) -> np.ndarray:
    """Resize, crop and normalise as ``spec`` says; returns float32 ``(3, H, W)``."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    height, width = spec.size
    resample = RESAMPLE[spec.interpolation]
    if spec.resize is None or spec.crop == "none":
        image = image.resize((width, height), resample)
    else:
        image = resize_shorter(image, spec.resize, resample)
        image = center_crop(image, height, width)
    pixels = np.asarray(image).transpose(2, 0, 1)  # (3, H, W) view of the uint8 pixels
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    # (pixels - mean) / std, written straight into one contiguous float32 array (no temporaries)
    out = np.empty(pixels.shape, dtype=np.float32)
    np.subtract(pixels, mean, out=out, dtype=np.float32)
    return np.divide(out, std, out=out)


def resize_shorter(image: Image.Image, size: int, resample: Image.Resampling) -> Image.Image:
    """Scale so the shorter side is ``size`` (torchvision ``Resize(int)`` semantics)."""
    width, height = image.size
    if width <= height:
        new = (size, max(1, int(size * height / width)))
    else:
        new = (max(1, int(size * width / height)), size)
    return image.resize(new, resample)


def center_crop(image: Image.Image, height: int, width: int) -> Image.Image:
    """Crop the centre (torchvision ``CenterCrop`` rounding); pads with black when too small."""
    img_w, img_h = image.size
    if img_w < width or img_h < height:
        canvas = Image.new("RGB", (max(img_w, width), max(img_h, height)))
        canvas.paste(image, ((canvas.width - img_w) // 2, (canvas.height - img_h) // 2))
        image, img_w, img_h = canvas, canvas.width, canvas.height
    top = round((img_h - height) / 2.0)
    left = round((img_w - width) / 2.0)
    return image.crop((left, top, left + width, top + height))
