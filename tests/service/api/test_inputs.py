"""``decode_base64``: every spelling of base64 a client sends, and the 4xx of what is not."""

from __future__ import annotations

import base64
import os
import textwrap

import pytest

from service.api.inputs import decode_base64
from service.errors import InvalidInputError, UnsupportedMediaError

DATA = os.urandom(3001)  # not a multiple of 3: the encoding ends in padding
ENCODED = base64.b64encode(DATA).decode()


@pytest.mark.parametrize(
    "text",
    [
        ENCODED,
        "\n".join(textwrap.wrap(ENCODED, 76)) + "\n",  # MIME lines, as `base64` writes by default
        f"  {ENCODED}\r\n",
        f"data:image/jpeg;base64,{ENCODED}",
        f"DATA:;base64,{ENCODED}",
    ],
    ids=["one-line", "wrapped", "surrounding-space", "data-uri", "data-uri-no-type"],
)
def test_decodes_every_spelling(text: str) -> None:
    assert decode_base64(text) == DATA


@pytest.mark.parametrize(
    "text",
    [
        "***not base64***",
        ENCODED[:-1],  # padding cut short
        ENCODED.replace("=", ""),  # no padding
        ENCODED[:40] + "é" + ENCODED[40:],  # not ASCII
        base64.urlsafe_b64encode(b"\xfb\xff" * 50).decode(),  # the URL-safe alphabet
    ],
    ids=["garbage", "short-padding", "no-padding", "non-ascii", "urlsafe"],
)
def test_bad_base64_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputError, match="not valid base64"):
        decode_base64(text)


def test_a_non_image_data_uri_is_unsupported_media() -> None:
    with pytest.raises(UnsupportedMediaError):
        decode_base64(f"data:text/plain;base64,{ENCODED}")
