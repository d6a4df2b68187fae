"""The route class of the protected API: key, body limit, admission, deadline, multipart.

Every ``/v1`` and ``/v2`` endpoint (probes, metrics and docs aside) is a :class:`ServiceRoute`.
Before FastAPI reads anything, the route checks the API key and the declared body size, admits
the body against the byte budget (``inference/admission.py``), then reads it through a byte
counter within the body timeout and the request's deadline (``api/deadline.py``), so an
oversized, unauthorised or overloading request costs no parsing and fails with the route's own
error protocol (``error_protocol``: the v1 envelope here, V2 in ``api/v2/errors.py``). The
handler then runs under the deadline and is cancelled if the client disconnects. Multipart
bodies are parsed once, in a worker thread, with part limits (``api/multipart.py``).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import pydantic_core
from fastapi import Request, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.types import Message, Receive

from service.api.deadline import body_read, deadline_of, read_body, remaining, run_guarded
from service.api.errors import ENVELOPE, ErrorProtocol
from service.api.multipart import BoundedMultiPartParser
from service.errors import (
    PayloadTooLargeError,
    ServiceError,
    UnauthorizedError,
)
from service.events import Observer
from service.inference.admission import Budgets, request_scope
from service.inference.engine import Engine
from service.settings import Settings

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class ServiceRoute(APIRoute):
    """An ``APIRoute`` that needs the API key (when set) and renders errors its own way."""

    error_protocol: ClassVar[ErrorProtocol] = ENVELOPE

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await self._admit_and_run(handler, request)
            except ServiceError as exc:
                # Refused before the body was read: close. Draining a large body to keep the
                # connection costs more than a reconnect; and measured at 512 connections, a
                # drained small body let clients that ignore Retry-After spin at ~800 429s a
                # second, starving the admitted work past its deadline (504s), where closing
                # kept 0 5xx.
                if request.method in _BODY_METHODS and not body_read(request):
                    exc.headers["Connection"] = "close"
                raise

        return handle

    async def _admit_and_run(
        self, handler: Callable[[Request], Coroutine[Any, Any, Response]], request: Request
    ) -> Response:
        settings: Settings = request.app.state.settings
        if settings.api_key:
            authorize(request, settings.api_key)
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large(limit)
        deadline = deadline_of(request, settings.request_timeout_s)
        has_body = request.method in _BODY_METHODS
        budgets: Budgets = request.app.state.budgets
        early = has_body and bool(_EARLY_ADMISSION.match(self.path))
        if early:
            _refuse_if_full(request, budgets.arriving)
        observer: Observer = request.app.state.observer
        # Bytes in flight are admitted on the declared size, before the body is read: a request
        # that waits here holds a socket, not memory. Chunked bodies count as the largest allowed.
        size = (int(declared) if declared.isdigit() else limit) if has_body else 0
        wait_s = min(budgets.wait_s, remaining(deadline))
        async with budgets.bytes.hold(size, wait_s), _scoped(budgets, early):
            receive = request.receive
            request = ServiceRequest(request.scope, _counting(receive, limit))
            if has_body:  # here, so a body over the limit is a 413, not a parse error
                await request.read(deadline, observer)
            return await run_guarded(handler(request), receive, deadline, observer)


class ServiceRequest(Request):
    """A request whose body the route reads, and whose multipart form is parsed as it streams."""

    async def read(self, deadline: float, observer: Observer) -> None:
        """Read the body within the body timeout and ``deadline``; a multipart body goes through
        :class:`BoundedMultiPartParser` as it arrives (here, not in FastAPI, which would turn
        its errors into a vague 400), and the handler gets the parsed form."""
        settings: Settings = self.app.state.settings
        if not self.is_multipart:
            await read_body(self, deadline, settings.body_timeout_s, observer)
            return
        parser = BoundedMultiPartParser(
            self.headers, max_parts=settings.max_form_parts,
            max_field_bytes=settings.max_form_field_bytes,
        )  # fmt: skip
        await read_body(self, deadline, settings.body_timeout_s, observer, sink=parser.feed)
        self._form = await parser.finish()

    async def json(self) -> Any:
        """The body parsed as JSON by pydantic-core's parser, ten times Python's ``json`` on a
        photo's base64 (0.014 against 0.146 ms for china.jpg's body, on the event loop). Not
        JSON (or nested past its depth limit of 200): ``json.JSONDecodeError``, which FastAPI
        turns into the 400 of a malformed body."""
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError as exc:
                raise json_error(exc, body) from None
        return self._json

    async def form(  # type: ignore[override]  # FastAPI awaits it; no `async with` here
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        """The form :meth:`read` parsed (multipart), else Starlette's (url-encoded)."""
        if self._form is not None:
            return self._form
        return await super().form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )

    @property
    def is_multipart(self) -> bool:
        """Whether the body is ``multipart/form-data``."""
        content_type, _ = parse_options_header(self.headers.get("content-type", ""))
        return bool(content_type == b"multipart/form-data")


# The routes that run a model: a request to them is refused before its body is read when the
# model cannot admit it (its name is in the V2 path; a /v1 body names it, so there only when
# every serving model is full, which refuses nothing that could have been admitted).
_EARLY_ADMISSION = re.compile(
    r"^/v1/(classify|sentiment|embed|similarity|rank)(/upload)?$"
    r"|^/v2/models/\{name\}(/versions/\{version\})?/infer$"
)


def _refuse_if_full(request: Request, arriving: int) -> None:
    """429 now, before the body is read, when the request's model(s) admit nothing more, counting
    the ``arriving`` requests (past this check, not admitted yet) as one item each."""
    engine: Engine = request.app.state.engine
    name = request.path_params.get("name")
    if name is not None:
        models = [engine.get(name, request.path_params.get("version"))]
    else:
        models = [m for m in engine.models() if m.ready]
    if models and all(m.full(arriving) for m in models):
        raise models[0].overloaded()


@asynccontextmanager
async def _scoped(budgets: Budgets, arriving: bool) -> AsyncIterator[None]:
    with request_scope(budgets, arriving=arriving):
        yield


_AT = re.compile(r" at line (\d+) column (\d+)$")


def json_error(exc: ValueError, body: bytes) -> json.JSONDecodeError:
    """pydantic-core's JSON error as the standard library's, its position an offset in ``body``
    (pydantic-core says "line L column C"). The document is left out: FastAPI would copy it into
    the error, and the envelope never shows it."""
    message = str(exc)
    found = _AT.search(message)
    if found is None:
        return json.JSONDecodeError(message, "", 0)
    line, column = int(found[1]), int(found[2])
    start = 0
    for _ in range(line - 1):
        start = body.find(b"\n", start) + 1
    return json.JSONDecodeError(message[: found.start()], "", start + column - 1)


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
