"""Reject multipart text fields that are not valid UTF-8, before the form parser sees them.

Starlette decodes a text field that is not valid UTF-8 as latin-1, silently turning bad bytes
into other characters; afterwards the two cannot be told apart. This middleware buffers a
multipart body (the size limit is enforced further out), checks every non-file part, and
answers 400 in the error envelope when one is not UTF-8; otherwise it replays the body.
"""

from __future__ import annotations

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import render_service_error
from service.errors import MalformedRequestError


class Utf8FormGuard:
    """Pure ASGI middleware: 400 for multipart text fields that are not valid UTF-8."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        boundary = _boundary(scope) if scope["type"] == "http" else None
        if boundary is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if not _text_parts_are_utf8(boundary, body):
            error = MalformedRequestError(
                "a form text field is not valid UTF-8; encode text fields as UTF-8"
            )
            request_id = scope.get("state", {}).get("request_id")
            await render_service_error(error, request_id)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _boundary(scope: Scope) -> bytes | None:
    for key, value in scope.get("headers", []):
        if key == b"content-type":
            kind, params = parse_options_header(value)
            if kind == b"multipart/form-data" and params.get(b"boundary"):
                return bytes(params[b"boundary"])
    return None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class _TextPartChecker:
    """python-multipart callbacks that decode every text part (no filename) as UTF-8."""

    def __init__(self) -> None:
        self.ok = True
        self._header = b""
        self._value = b""
        self._is_file = False
        self._data = bytearray()

    def on_header_field(self, buf: bytes, start: int, end: int) -> None:
        self._header += buf[start:end]

    def on_header_value(self, buf: bytes, start: int, end: int) -> None:
        self._value += buf[start:end]

    def on_header_end(self) -> None:
        if self._header.lower() == b"content-disposition":
            self._is_file = b"filename" in parse_options_header(self._value)[1]
        self._header = self._value = b""

    def on_part_begin(self) -> None:
        self._is_file = False
        self._data.clear()

    def on_part_data(self, buf: bytes, start: int, end: int) -> None:
        if not self._is_file:
            self._data.extend(buf[start:end])

    def on_part_end(self) -> None:
        if not self._is_file:
            try:
                self._data.decode("utf-8")
            except UnicodeDecodeError:
                self.ok = False


def _text_parts_are_utf8(boundary: bytes, body: bytes) -> bool:
    """True unless a text part of the multipart ``body`` is not valid UTF-8."""
    checker = _TextPartChecker()
    names = ("on_header_field", "on_header_value", "on_header_end", "on_part_begin",
             "on_part_data", "on_part_end")  # fmt: skip
    callbacks = {name: getattr(checker, name) for name in names}
    try:
        MultipartParser(boundary, callbacks).write(body)  # type: ignore[arg-type]
    except Exception:  # a malformed body: leave the verdict to the real form parser
        return True
    return checker.ok
