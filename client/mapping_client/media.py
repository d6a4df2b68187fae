"""What the client accepts as an image or a text, and how it becomes a JSON item.

An image is a path (``str`` or ``os.PathLike``), encoded bytes (JPEG, PNG, WebP), a PIL image or
a numpy ``uint8`` array (``HxWx3``, ``HxWx4`` or ``HxW``; a 4-D array is a batch). Where an input
may be a text *or* an image (``embed``, ``similarity``, ``rank``), a ``str`` is a text: pass an
image path as ``pathlib.Path`` or ``Image("cat.jpg")`` there.

PIL images and arrays are encoded as PNG; that needs Pillow and numpy, the ``[images]`` extra.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

_EXTRA_HINT = "install the client with its images extra: pip install 'mapping-serve-client[images]'"


@dataclass(frozen=True)
class Image:
    """An image to send. Wrap a path in it where a plain ``str`` would be read as a text.

    Args:
        source: a path, encoded bytes, a PIL image or a numpy ``uint8`` array.
    """

    source: Any

    def read(self) -> bytes:
        """The encoded bytes to send (PIL images and arrays are encoded as PNG)."""
        source = self.source
        if isinstance(source, Image):
            return source.read()
        if isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source)
        if isinstance(source, (str, os.PathLike)):
            return Path(source).read_bytes()
        if _is_pil(source):
            return _png(source)
        if _is_array(source):
            return _png(_array_to_pil(source))
        raise TypeError(
            f"cannot send a {type(source).__name__} as an image; give a path, bytes, "
            "a PIL image or a numpy uint8 array (HxWx3)"
        )

    def size_hint(self) -> int:
        """About how many bytes ``read()`` returns, without reading a file."""
        source = self.source
        if isinstance(source, (bytes, bytearray, memoryview)):
            return len(source)
        if isinstance(source, (str, os.PathLike)):
            try:
                return os.stat(source).st_size
            except OSError:
                return 0  # read() raises the real error
        if _is_array(source):
            return int(source.nbytes)
        if _is_pil(source):
            width, height = source.size
            return int(width * height * 3)
        return 0

    def base64(self) -> str:
        """``read()`` as standard base64 (what the JSON endpoints take)."""
        return base64.b64encode(self.read()).decode("ascii")


ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Image, Any]
"""A path, encoded bytes, a PIL image, a numpy array or an ``Image``."""

Media = Union[str, ImageInput]  # noqa: UP007
"""A text (``str``) or an image (anything else)."""


def images(value: ImageInput | Sequence[ImageInput] | None) -> list[Image]:
    """One or many images as a list (a 4-D array is a batch of arrays)."""
    return _images(value)


def _images(value: Any) -> list[Image]:
    if value is None:
        return []
    if _is_single_image(value):
        if _is_array(value) and value.ndim == 4:
            return [Image(frame) for frame in value]
        return [Image(value)]
    return [v if isinstance(v, Image) else Image(v) for v in _iterate(value)]


def texts(value: str | Sequence[str] | None) -> list[str]:
    """One or many texts as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    result = list(value)
    for text in result:
        if not isinstance(text, str):
            raise TypeError(f"a text must be a str, not {type(text).__name__}")
    return result


def media(value: Media | Sequence[Media]) -> list[str | Image]:
    """One or many inputs, each a text (``str``) or an ``Image``."""
    if isinstance(value, str) or _is_single_image(value):
        return [value] if isinstance(value, str) else list(images(value))
    return [v if isinstance(v, str) else (images(v)[0]) for v in _iterate(value)]


def media_item(value: str | Image) -> dict[str, str]:
    """The JSON form of one input: ``{"type": "text", ...}`` or ``{"type": "image", ...}``."""
    if isinstance(value, str):
        return {"type": "text", "text": value}
    return {"type": "image", "image": value.base64()}


def wire_size(value: str | Image) -> int:
    """About how many bytes the input adds to a JSON body (base64 is 4/3 of the bytes)."""
    if isinstance(value, str):
        return len(value.encode("utf-8")) + 32
    return value.size_hint() * 4 // 3 + 32


def _is_single_image(value: Any) -> bool:
    single = (str, bytes, bytearray, memoryview, os.PathLike, Image)
    return isinstance(value, single) or _is_pil(value) or _is_array(value)


def _iterate(value: Any) -> Iterable[Any]:
    try:
        return list(value)
    except TypeError:
        raise TypeError(
            f"expected one input or a list of them, not {type(value).__name__}"
        ) from None


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "save")


def _is_array(value: Any) -> bool:
    return hasattr(value, "__array_interface__") and hasattr(value, "ndim")


def _array_to_pil(array: Any) -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError:
        raise ImportError(f"sending numpy arrays needs Pillow; {_EXTRA_HINT}") from None
    if str(array.dtype) != "uint8":
        raise TypeError(f"an image array must be uint8 (0..255), not {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise TypeError(f"an image array must be HxW, HxWx3 or HxWx4, not {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return PILImage.fromarray(array)


def _png(image: Any) -> bytes:
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
