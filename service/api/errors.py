"""One error envelope for every error: ``{"error": {"type", "message", "request_id", ...}}``.

Domain errors render their own status, type and message. Request validation errors become 422
(400 when the body is not JSON at all), Starlette's HTTP errors keep their status, and anything
else is a generic 500 whose traceback goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException

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


def envelope(
    status: int,
    type_: str,
    message: str,
    request_id: str | None,
    headers: dict[str, str] | None = None,
    **details: Any,
) -> JSONResponse:
    """The JSON error response every error path uses."""
    body = {"error": {"type": type_, "message": message, "request_id": request_id, **details}}
    return JSONResponse(body, status_code=status, headers=headers)


def render_service_error(error: ServiceError, request_id: str | None) -> JSONResponse:
    """Render a domain error (also used by middleware, outside the exception handlers)."""
    return envelope(
        error.status, error.type, error.message, request_id, error.headers, **error.details
    )


def request_id_of(request: Request) -> str | None:
    """The id the request middleware stored on the request."""
    return getattr(request.state, "request_id", None)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if exc.status >= 500:
        log.warning("%s: %s", exc.type, exc.message)
    return render_service_error(exc, request_id_of(request))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_clean(e) for e in exc.errors()]
    if any(e["type"] == "json_invalid" for e in errors):
        return envelope(400, "malformed_request", "the body is not valid JSON",
                        request_id_of(request), errors=errors)  # fmt: skip
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return envelope(422, "invalid_input", message, request_id_of(request), errors=errors)


async def _model_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A pydantic model built inside a route (e.g. from form fields) rejected its data."""
    assert isinstance(exc, ValidationError)
    errors = [_clean(e) for e in exc.errors()]
    first = errors[0]["msg"] if errors else "invalid input"
    return envelope(422, "invalid_input", first, request_id_of(request), errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    type_ = _HTTP_TYPES.get(exc.status_code, "http_error")
    return envelope(exc.status_code, type_, str(exc.detail), request_id_of(request),
                    dict(exc.headers or {}))  # fmt: skip


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return envelope(500, "internal_error", "internal server error; see the server log",
                    request_id_of(request))  # fmt: skip


def _clean(error: Any) -> dict[str, Any]:
    """Keep where and what; drop the echoed input (may be huge) and non-JSON context."""
    return {
        "loc": [str(part) for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error as the one envelope."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ValidationError, _model_validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
