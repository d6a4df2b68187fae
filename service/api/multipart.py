"""Multipart bodies parsed strictly while they stream in, off the event loop, part by part.

Starlette's parser, driven chunk by chunk as the body arrives (:meth:`feed`), each batch of
chunks in a worker thread, so a body of many tiny parts cannot hold the event loop. Its
callbacks enforce, as the parser reaches each part: at most ``max_parts`` parts (400), a text
field of at most ``max_field_bytes`` (413) that must be valid UTF-8 (400; Starlette would decode
it as latin-1, silently turning bad bytes into other characters).

Before any of that, each chunk's delimiters are counted (``bytes.count``, in C, on the loop): a
flood of 200,000 tiny parts is refused on its first chunk, before the pure-Python parser spends
its per-part callbacks on it. Measured with the parser stopping at part 257: two flooding
connections took over half of the server's core, so a c=1 client's p50 went from 14 to 36 ms
(README "Under load"). The rest of the body is never read (the route closes the connection).
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncGenerator, Callable

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from service.errors import MalformedRequestError, PayloadTooLargeError

_BATCH = 64 * 1024  # bytes handed to the worker thread at a time


class BoundedMultiPartParser(MultiPartParser):
    """Parses one multipart body as it streams in (:meth:`feed`, :meth:`finish`).

    Raises:
        MalformedRequestError: no boundary, bad multipart, too many parts, a non-UTF-8 field.
        PayloadTooLargeError: a text field over ``max_field_bytes``.
    """

    def __init__(self, headers: Headers, *, max_parts: int, max_field_bytes: int) -> None:
        super().__init__(headers, _nothing(), max_files=max_parts, max_fields=max_parts,
                         max_part_size=max_field_bytes)  # fmt: skip
        self._max_parts = max_parts
        self._parts = 0
        self._pending = bytearray()
        _, params = parse_options_header(headers.get("content-type", ""))
        self._charset = _charset(params.get(b"charset", b"utf-8"))
        boundary = params.get(b"boundary")
        if not boundary:
            raise MalformedRequestError("the multipart body has no boundary in its content type")
        self._delimiter = b"\r\n--" + boundary
        self._delimiters = 0
        self._seam = b"\r\n"  # the first delimiter has no CRLF before it: count it as if it had
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end, "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished, "on_end": self.on_end,
        })  # fmt: skip

    async def feed(self, chunk: bytes) -> None:
        """Parse the next chunk of the body (in a worker thread, a batch at a time)."""
        self._count_delimiters(chunk)
        self._pending += chunk
        if len(self._pending) >= _BATCH:
            data, self._pending = bytes(self._pending), bytearray()
            await asyncio.to_thread(self._guarded, self._parser.write, data)

    async def finish(self) -> FormData:
        """Parse what is left, check the body ended properly, and return the form."""
        data, self._pending = bytes(self._pending), bytearray()
        await asyncio.to_thread(self._guarded, self._finish, data)
        return FormData(self.items)

    def _finish(self, data: bytes) -> None:
        self._parser.write(data)
        self._parser.finalize()

    def _count_delimiters(self, chunk: bytes) -> None:
        """Refuse the body once it has more delimiters than ``max_parts`` parts can have.

        The same delimiters the parser splits on (CRLF, ``--``, the boundary), counted across
        chunk edges: the seam (the previous chunk's last ``len(delimiter) - 1`` bytes and this
        chunk's first as many) holds exactly the occurrences that straddle the edge. Every
        delimiter but the closing one starts a part, so ``max_parts + 2`` of them mean a part too
        many.
        """
        width = len(self._delimiter) - 1
        seam = self._seam + chunk[:width]
        self._delimiters += seam.count(self._delimiter) + chunk.count(self._delimiter)
        self._seam = seam[-width:] if len(chunk) < width else chunk[-width:]
        if self._delimiters > self._max_parts + 1:
            raise self._too_many_parts()

    def _too_many_parts(self) -> MalformedRequestError:
        return MalformedRequestError(
            f"the form has more than {self._max_parts} parts; send fewer files and fields"
        )

    def _guarded(self, step: Callable[[bytes], object], data: bytes) -> None:
        try:
            step(data)
        except BaseException as exc:
            for file in self._files_to_close_on_error:
                file.close()
            if isinstance(exc, FormParserError | MultiPartException):
                message = getattr(exc, "message", "the multipart body is malformed")
                raise MalformedRequestError(str(message)) from None
            raise

    def on_headers_finished(self) -> None:
        self._parts += 1
        if self._parts > self._max_parts:
            raise self._too_many_parts()
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


def _charset(value: str | bytes) -> str:
    name = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "latin-1"


async def _nothing() -> AsyncGenerator[bytes, None]:
    """The stream Starlette's constructor wants; :meth:`feed` gets the body instead."""
    return
    yield b""  # pragma: no cover - makes this an async generator
