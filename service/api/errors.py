"""Errors, rendered once: any exception becomes a :class:`Problem`; the route's protocol writes it.

The inference core raises domain errors (``service/errors.py``), FastAPI raises validation
errors, Starlette raises HTTP errors for unknown paths and methods, and anything else is a bug:
:func:`problem` turns each into a status, type, message, headers and details, and
:func:`error_response` renders it in the protocol of the route that was matched: the service's
envelope ``{"error": {"type", "message", "request_id", ...}}`` (:data:`ENVELOPE`), or the Open
Inference Protocol's ``{"error": "<message>"}`` (``api/v2/errors.py``). A route declares its
protocol once, on its route class (``routing.ServiceRoute.error_protocol``); a request that
matched no route gets the envelope. Unknown exceptions become a generic 500 whose traceback goes
to the log, never to the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.types import Scope

from service.errors import ServiceError

log = logging.getLogger(__name__)

_HTTP_TYPES = {
    400: "malformed_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@dataclass(frozen=True)
class Problem:
    """What went wrong, independent of how a protocol spells it."""

    status: int
    type: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


INTERNAL = Problem(500, "internal_error", "internal server error; see the server log")


class ErrorProtocol(Protocol):
    """How one wire protocol writes a :class:`Problem`."""

    def render(self, problem: Problem, request_id: str | None) -> JSONResponse:
        """The response for ``problem``."""


class Envelope:
    """The service's envelope: ``{"error": {"type", "message", "request_id", **details}}``."""

    def render(self, problem: Problem, request_id: str | None) -> JSONResponse:
        """``problem`` with its own status, type and message, and the request id."""
        body = {"error": {"type": problem.type, "message": problem.message,
                          "request_id": request_id, **problem.details}}  # fmt: skip
        return JSONResponse(body, status_code=problem.status, headers=problem.headers or None)


ENVELOPE = Envelope()


def problem(exc: BaseException) -> Problem:
    """The :class:`Problem` of any exception (unknown ones are the generic 500)."""
    if isinstance(exc, ServiceError):
        return Problem(exc.status, exc.type, exc.message, exc.headers, exc.details)
    if isinstance(exc, RequestValidationError):
        errors = [_clean(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return Problem(400, "malformed_request", "the body is not valid JSON",
                           details={"errors": errors})  # fmt: skip
        return Problem(422, "invalid_input", _first_message(errors), details={"errors": errors})
    if isinstance(exc, ValidationError):  # a pydantic model built inside a route
        errors = [_clean(e) for e in exc.errors()]
        first = errors[0]["msg"] if errors else "invalid input"
        return Problem(422, "invalid_input", first, details={"errors": errors})
    if isinstance(exc, HTTPException):
        type_ = _HTTP_TYPES.get(exc.status_code, "http_error")
        return Problem(exc.status_code, type_, str(exc.detail), dict(exc.headers or {}))
    return INTERNAL


def error_response(exc: BaseException, scope: Scope) -> JSONResponse:
    """Render ``exc`` in the protocol of the route ``scope`` matched (the envelope if none)."""
    found = problem(exc)
    if found is INTERNAL:
        log.error("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
    elif found.status >= 500:
        log.warning("%s: %s", found.type, found.message)
    protocol: ErrorProtocol = getattr(scope.get("route"), "error_protocol", ENVELOPE)
    return protocol.render(found, request_id_of(scope))


def request_id_of(scope: Scope) -> str | None:
    """The id the request middleware assigned (``scope["state"]["request_id"]``)."""
    request_id = scope.get("state", {}).get("request_id")
    return str(request_id) if request_id is not None else None


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return error_response(exc, request.scope)


def install_error_handlers(app: FastAPI) -> None:
    """Render every error the app's routing raises through :func:`error_response`.

    Exceptions no handler takes reach the request middleware, which renders them the same way.
    """
    for kind in (ServiceError, RequestValidationError, ValidationError, HTTPException):
        app.add_exception_handler(kind, _handle)


def _first_message(errors: list[dict[str, Any]]) -> str:
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def _clean(error: Any) -> dict[str, Any]:
    """Keep where and what; drop the echoed input (may be huge) and non-JSON context."""
    return {
        "loc": [str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }
