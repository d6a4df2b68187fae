"""Request input types shared by the task routers, and the checks every request goes through.

Static bounds live in the schemas (OpenAPI shows them); the configurable limits (``max_items``,
``max_text_chars``) are checked per request against the app's settings.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field

from contract import layout
from service.errors import InvalidInputError, UnsupportedMediaError
from service.inference.spaces import MediaItem
from service.settings import Settings

MAX_LIST = 1024  # static bound; the configurable `max_items` is checked per request
MAX_TEXT = 65_536  # static bound; the configurable `max_text_chars` is checked per request
MAX_BASE64 = 64 * 1024 * 1024  # static bound; the body limit is the real one
MODEL_NAME = layout.MODEL_NAME_PATTERN
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
SpaceName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


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
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            "an image is not valid base64; send standard base64 or a data URI"
        ) from None


def to_media(item: TextItem | ImageItem) -> MediaItem:
    """The inference-side item of a request input."""
    if isinstance(item, TextItem):
        return MediaItem("text", text=item.text)
    return MediaItem("image", image=decode_base64(item.image))


def check_items(settings: Settings, count: int) -> None:
    """At least one and at most ``max_items`` items per request."""
    if count < 1:
        raise InvalidInputError("send at least one item")
    if count > settings.max_items:
        raise InvalidInputError(
            f"{count} items in one request; the limit is {settings.max_items}",
            limit=settings.max_items,
        )


def check_texts(settings: Settings, texts: Sequence[str | None]) -> None:
    """Every text non-blank and at most ``max_text_chars`` characters."""
    for text in texts:
        if text is None:
            continue
        if not text.strip():
            raise InvalidInputError("a text is empty; send at least one non-space character")
        if len(text) > settings.max_text_chars:
            raise InvalidInputError(
                f"a text has {len(text)} characters; the limit is {settings.max_text_chars}",
                limit=settings.max_text_chars,
            )


def check_media(settings: Settings, items: Sequence[MediaItem]) -> None:
    """Item count and text limits of a list of media inputs."""
    check_items(settings, len(items))
    check_texts(settings, [i.text for i in items])


async def read_uploads(files: Sequence[UploadFile] | None) -> list[bytes]:
    """The bytes of each uploaded file (the body limit already bounds their size)."""
    return [await f.read() for f in files or []]


def pair_up(
    images: Sequence[bytes], texts: Sequence[str]
) -> tuple[list[bytes | None], list[str | None]]:
    """Items from uploaded images and form texts: same length when both are given."""
    if images and texts and len(images) != len(texts):
        raise InvalidInputError(
            f"{len(images)} files and {len(texts)} texts: give one text per file, or only one kind"
        )
    count = max(len(images), len(texts))
    return (list(images) or [None] * count), (list(texts) or [None] * count)


async def upload_media(texts: Sequence[str], files: Sequence[UploadFile]) -> list[MediaItem]:
    """Media items from form texts and uploaded files: texts first, then images."""
    items = [MediaItem("text", text=t) for t in texts]
    return items + [MediaItem("image", image=data) for data in await read_uploads(files)]
