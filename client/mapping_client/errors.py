"""``ServiceError``: the one exception the client raises, whatever went wrong.

The service answers errors with ``{"error": {"type", "message", "request_id", ...}}`` on ``/v1``
and with the Open Inference Protocol's ``{"error": "message"}`` on ``/v2``; a proxy in front of it
may answer with plain text or HTML. All of them become a ``ServiceError``, and so do connection
failures and timeouts (``status`` is then ``None``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

# The service's ``type`` for each status, used when the body does not say (V2 bodies, proxies).
_STATUS_TYPES = {
    400: "malformed_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "overloaded",
    500: "internal_error",
    502: "bad_gateway",
    503: "not_ready",
    504: "timeout",
}
_MAX_TEXT = 500  # characters of a non-JSON body kept in the message


class ServiceError(Exception):
    """An error answered by the service (or met on the way to it).

    Attributes:
        status: the HTTP status, or ``None`` when no response came (connection error, timeout).
        type: the envelope's stable error type, e.g. ``invalid_input``, ``not_found``,
            ``overloaded``; ``connection_error`` or ``timeout`` when no response came.
        message: the envelope's human-readable message.
        request_id: the request id the service logged (``X-Request-ID``), when known.
        details: any further fields of the envelope (e.g. ``limit``, ``errors``).
    """

    def __init__(
        self,
        message: str,
        *,
        type: str = "error",
        status: int | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.status = status
        self.request_id = request_id
        self.details = details or {}

    def __str__(self) -> str:
        where = f"{self.status} " if self.status is not None else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{where}{self.type}: {self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"ServiceError(status={self.status!r}, type={self.type!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


def error_from_response(response: httpx.Response) -> ServiceError:
    """The ``ServiceError`` of an error response: v1 envelope, V2 body, or any other body."""
    status = response.status_code
    header_id = response.headers.get("x-request-id")
    default_type = _STATUS_TYPES.get(status, "http_error")
    body = _json_or_none(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):  # the service's v1 envelope
        details = {k: v for k, v in error.items() if k not in ("type", "message", "request_id")}
        return ServiceError(
            str(error.get("message", "")) or response.reason_phrase,
            type=str(error.get("type") or default_type), status=status,
            request_id=error.get("request_id") or header_id, details=details,
        )  # fmt: skip
    if isinstance(error, str):  # Open Inference Protocol (V2)
        return ServiceError(error, type=default_type, status=status, request_id=header_id)
    if isinstance(body, dict) and "detail" in body:  # a plain FastAPI/Starlette answer
        return ServiceError(str(body["detail"]), type=default_type, status=status,
                            request_id=header_id)  # fmt: skip
    text = " ".join(response.text.split())[:_MAX_TEXT]
    message = text or response.reason_phrase or f"HTTP {status}"
    return ServiceError(message, type=default_type, status=status, request_id=header_id)


def error_from_transport(exc: httpx.TransportError, url: str) -> ServiceError:
    """The ``ServiceError`` of a request that got no response."""
    if isinstance(exc, httpx.TimeoutException):
        return ServiceError(
            f"no answer from {url} in time ({type(exc).__name__}); raise the client's timeout",
            type="timeout",
        )
    return ServiceError(
        f"cannot reach {url}: {exc or type(exc).__name__}; is the service running there?",
        type="connection_error",
    )


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
