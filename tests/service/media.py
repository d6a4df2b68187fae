"""Small pictures and payloads for service tests, built in memory."""

from __future__ import annotations

import base64
import io
import struct
import zlib

from PIL import Image


def picture(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (48, 40)
) -> Image.Image:
    """A picture with a contrasting patch, so different colours give different outputs."""
    image = Image.new("RGB", size, color)
    image.paste((255 - color[0], 255 - color[1], 90), (4, 4, size[0] // 2, size[1] // 2))
    return image


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    """The picture encoded as ``fmt`` (PNG, JPEG, WEBP, GIF, ...)."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (48, 40)) -> bytes:
    return encode(picture(color, size))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{b64(data)}"


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small valid PNG whose header claims ``width`` x ``height`` pixels (a bomb)."""
    data = bytearray(png())
    data[16:24] = struct.pack(">II", width, height)  # IHDR width, height
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))  # IHDR CRC
    return bytes(data)
