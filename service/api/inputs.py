"""Request input types shared by the v1 routers, and turning them into the tasks' items.

Static bounds live in the schemas (OpenAPI shows them); the configurable limits (``max_items``,
``max_text_chars``, ``max_image_pixels``) are checked by the tasks and the preprocessing, the
same for JSON bodies, uploads and the V2 protocol.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from typing import Annotated, Literal

import pybase64
from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from contract import layout
from service.errors import InvalidInputError, UnsupportedMediaError
from service.tasks import Item

MAX_LIST = 1024  # static bound; the configurable `max_items` is checked per request
MAX_TEXT = 65_536  # static bound; the configurable `max_text_chars` is checked per request
MAX_BASE64 = 64 * 1024 * 1024  # static bound; the body limit is the real one
MODEL_NAME = layout.MODEL_NAME_PATTERN
SPACE_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
_DATA_URI = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[\w.+-]+=[\w.+-]+)*;base64,", re.I)

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, description="UTF-8 text")]
Base64Image = Annotated[
    str,
    Field(
        min_length=1, max_length=MAX_BASE64,
        description="JPEG, PNG or WebP as base64 or a data URI (data:image/png;base64,...)",
    ),
]  # fmt: skip
ModelName = Annotated[str, Field(pattern=MODEL_NAME, max_length=64)]
SpaceName = Annotated[str, Field(min_length=1, max_length=64, pattern=SPACE_NAME)]
ClientId = Annotated[str, Field(min_length=1, max_length=256)]


class Strict(BaseModel):
    """Base of every request model: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class TextItem(Strict):
    """A text to embed or compare."""

    type: Literal["text"] = "text"
    text: Text


class ImageItem(Strict):
    """An image to embed or compare."""

    type: Literal["image"] = "image"
    image: Base64Image


MediaInput = Annotated[TextItem | ImageItem, Field(discriminator="type")]


def decode_base64(data: str) -> bytes:
    """Bytes of a base64 string or data URI (a non-image data URI is 415, bad base64 is 422)."""
    match = _DATA_URI.match(data)
    if match:
        media_type = (match.group(1) or "").lower()
        if media_type and not media_type.startswith("image/"):
            raise UnsupportedMediaError(f"a data URI of type {media_type!r} is not an image")
        data = data[match.end() :]
    try:
        return pybase64.b64decode(data, validate=True)  # the common case: one unbroken line
    except (binascii.Error, ValueError):
        pass
    try:  # base64 wrapped in lines (MIME, `base64` without -w0): drop the whitespace
        return pybase64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            "an image is not valid base64; send standard base64 or a data URI"
        ) from None


def to_item(value: TextItem | ImageItem, id_: str | None = None) -> Item:
    """The task's item of a request input (``id_``: the client's name for it)."""
    if isinstance(value, TextItem):
        return Item(text=value.text, id=id_)
    return Item(image=decode_base64(value.image), id=id_)


async def read_uploads(files: Sequence[UploadFile] | None) -> list[bytes]:
    """The bytes of each uploaded file (the body limit already bounds their size)."""
    return [await f.read() for f in files or []]


async def paired_items(files: Sequence[UploadFile] | None, texts: Sequence[str]) -> list[Item]:
    """Items from uploaded images and form texts: one text per file when both are given."""
    images = await read_uploads(files)
    if images and texts and len(images) != len(texts):
        raise InvalidInputError(
            f"{len(images)} files and {len(texts)} texts: give one text per file, or only one kind"
        )
    if not texts:
        return [Item(image=image) for image in images]
    if not images:
        return [Item(text=text) for text in texts]
    return [Item(image=i, text=t) for i, t in zip(images, texts, strict=True)]


async def upload_items(texts: Sequence[str], files: Sequence[UploadFile]) -> list[Item]:
    """Items from form texts and uploaded files (texts first); a file's name is its ``id``."""
    items = [Item(text=t) for t in texts]
    return items + [Item(image=await f.read(), id=f.filename) for f in files]
