"""The route class of the protected API: key, body limit, one strict multipart parse, its errors.

Every ``/v1`` and ``/v2`` endpoint (probes, metrics and docs aside) is a :class:`ServiceRoute`.
Before FastAPI reads anything, the route checks the API key and the declared body size, then
reads the body through a byte counter, so an oversized or unauthorised request costs no parsing
and fails with the route's own error protocol (``error_protocol``: the v1 envelope here, V2 in
``api/v2/errors.py``). Multipart bodies are parsed once, by Starlette's parser with one change:
a text field that is not valid UTF-8 is a 400 (Starlette would decode it as latin-1, silently
turning bad bytes into other characters).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Message, Receive

from service.api.errors import ENVELOPE, ErrorProtocol
from service.errors import MalformedRequestError, PayloadTooLargeError, UnauthorizedError
from service.settings import Settings

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ServiceRoute(APIRoute):
    """An ``APIRoute`` that needs the API key (when set) and renders errors its own way."""

    error_protocol: ClassVar[ErrorProtocol] = ENVELOPE

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            if settings.api_key:
                authorize(request, settings.api_key)
            limit = settings.max_body_bytes
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_large(limit)
            request = ServiceRequest(request.scope, _counting(request.receive, limit))
            if request.method in _BODY_METHODS:
                await request.body()  # here, so a body over the limit is a 413, not a parse error
            return await handler(request)

        return handle


class ServiceRequest(Request):
    """A request whose multipart form is parsed strictly (UTF-8 text fields), once."""

    async def form(  # type: ignore[override]  # FastAPI awaits it; no `async with` here
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        """The parsed form (multipart through :class:`Utf8MultiPartParser`)."""
        content_type, _ = parse_options_header(self.headers.get("content-type", ""))
        if content_type != b"multipart/form-data":
            return await super().form(
                max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
            )
        parser = Utf8MultiPartParser(
            self.headers, self.stream(), max_files=max_files, max_fields=max_fields,
            max_part_size=max_part_size,
        )  # fmt: skip
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise MalformedRequestError(exc.message) from None


class Utf8MultiPartParser(MultiPartParser):
    """Starlette's multipart parser, except that a text field must be valid UTF-8."""

    def on_part_end(self) -> None:
        part = self._current_part  # the part just read (Starlette keeps no public hook for it)
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
            except UnicodeDecodeError:
                raise MalformedRequestError(
                    "a form text field is not valid UTF-8; encode text fields as UTF-8"
                ) from None
        super().on_part_end()


def authorize(request: Request, api_key: str) -> None:
    """401 unless the request carries ``api_key`` as ``X-API-Key`` or ``Authorization: Bearer``."""
    given = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), api_key.encode()):
        raise UnauthorizedError(
            "missing or wrong API key; send it as X-API-Key or Authorization: Bearer",
            headers={"WWW-Authenticate": "Bearer"},
        )


def too_large(limit: int) -> PayloadTooLargeError:
    """The 413 for a body over ``limit`` bytes."""
    return PayloadTooLargeError(
        f"the request body is larger than {limit} bytes; send fewer or smaller items",
        limit=limit,
    )


def _counting(receive: Receive, limit: int) -> Receive:
    """``receive``, raising the 413 as soon as the body streamed in passes ``limit`` bytes."""
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(limit)
        return message

    return counted
