"""Multipart bodies parsed strictly and off the event loop, with limits checked part by part.

Starlette's parser, driven synchronously over the body already read (the route read it within
its limits), in a worker thread, so a body of many tiny parts cannot hold the event loop. Its
callbacks enforce, as the parser reaches each part: at most ``max_parts`` parts (400), a text
field of at most ``max_field_bytes`` (413) that must be valid UTF-8 (400; Starlette would decode
it as latin-1, silently turning bad bytes into other characters). A flood of 200,000 parts stops
at part ``max_parts + 1``, a few kilobytes in.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncGenerator

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from service.errors import MalformedRequestError, PayloadTooLargeError

_CHUNK = 64 * 1024  # fed to the parser at a time, so limits trip early in a large body


class BoundedMultiPartParser(MultiPartParser):
    """Parses one multipart body synchronously (:meth:`parse_sync`) with the limits above."""

    def __init__(
        self, headers: Headers, body: bytes, *, max_parts: int, max_field_bytes: int
    ) -> None:
        super().__init__(headers, _nothing(), max_files=max_parts, max_fields=max_parts,
                         max_part_size=max_field_bytes)  # fmt: skip
        self._body = body
        self._max_parts = max_parts
        self._parts = 0

    def on_headers_finished(self) -> None:
        self._parts += 1
        if self._parts > self._max_parts:
            raise MalformedRequestError(
                f"the form has more than {self._max_parts} parts; send fewer files and fields"
            )
        super().on_headers_finished()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._current_part
        if part.file is None:
            if len(part.data) + end - start > self.max_part_size:
                raise PayloadTooLargeError(
                    f"a form text field is larger than {self.max_part_size} bytes",
                    limit=self.max_part_size,
                )
            part.data.extend(data[start:end])
        else:  # synchronous: this runs in a worker thread, not on the event loop
            part.file.file.write(data[start:end])
            part.file.size = (part.file.size or 0) + end - start

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedRequestError(
                    "a form text field is not valid UTF-8; encode text fields as UTF-8"
                ) from None
        else:
            part.file.file.seek(0)
        super().on_part_end()

    def parse_sync(self) -> FormData:
        """The form, or :class:`MultiPartException` / a service error at the first problem."""
        _, params = parse_options_header(self.headers["Content-Type"])
        self._charset = _charset(params.get(b"charset", b"utf-8"))
        boundary = params.get(b"boundary")
        if not boundary:
            raise MultiPartException("Missing boundary in multipart.")
        parser = MultipartParser(boundary, {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished, "on_end": self.on_end,
        })  # fmt: skip
        try:
            for start in range(0, len(self._body), _CHUNK):
                parser.write(self._body[start : start + _CHUNK])
            parser.finalize()
        except BaseException as exc:
            for file in self._files_to_close_on_error:
                file.close()
            if isinstance(exc, FormParserError):
                raise MultiPartException("Invalid multipart data.") from exc
            raise
        return FormData(self.items)


def _charset(value: str | bytes) -> str:
    name = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "latin-1"


async def _nothing() -> AsyncGenerator[bytes, None]:
    """The stream Starlette's constructor wants; :meth:`parse_sync` reads the body instead."""
    return
    yield b""  # pragma: no cover - makes this an async generator
