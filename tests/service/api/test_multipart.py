"""The delimiter count that refuses a multipart flood before the parser runs."""

from __future__ import annotations

import asyncio

import pytest
from starlette.datastructures import Headers

from service.api.multipart import BoundedMultiPartParser
from service.errors import MalformedRequestError

HEADERS = Headers({"content-type": 'multipart/form-data; boundary="xyz"'})


def _body(parts: int) -> bytes:
    one = b'--xyz\r\nContent-Disposition: form-data; name="texts"\r\n\r\nhi --xyz\r\n'
    return one * parts + b"--xyz--\r\n"


def _feed(body: bytes, size: int, max_parts: int) -> list[str]:
    """Feed ``body`` in chunks of ``size``; the text fields parsed."""

    async def run() -> list[str]:
        parser = BoundedMultiPartParser(HEADERS, max_parts=max_parts, max_field_bytes=100)
        for start in range(0, len(body), size):
            await parser.feed(body[start : start + size])
        form = await parser.finish()
        return [str(value) for value in form.getlist("texts")]

    return asyncio.run(run())


@pytest.mark.parametrize("size", [1, 2, 7, 8, 9, 64, 100_000])
def test_every_chunking_counts_each_delimiter_once(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "--xyz" inside a field is not a delimiter (no CRLF before it); edges fall everywhere
    assert _feed(_body(6), size, max_parts=6) == ["hi --xyz"] * 6  # not one counted twice
    monkeypatch.setattr(BoundedMultiPartParser, "_guarded", lambda self, step, data: None)
    with pytest.raises(MalformedRequestError, match="more than 5 parts"):
        _feed(_body(6), size, max_parts=5)  # the count alone refuses it: none missed


def test_a_flood_is_refused_before_the_parser_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[int] = []
    monkeypatch.setattr(BoundedMultiPartParser, "_guarded",
                        lambda self, step, data: written.append(len(data)))  # fmt: skip
    with pytest.raises(MalformedRequestError, match="more than 256 parts"):
        _feed(_body(200_000), 64 * 1024, max_parts=256)
    assert written == []
