"""Domain exceptions. Each carries its HTTP status and a stable ``type``; one handler renders them.

Nothing here imports FastAPI: the inference core raises these, the API layer renders them.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ServiceError(Exception):
    """Base class: ``status`` and ``type`` go into the error envelope, ``message`` is shown as is.

    Only put text in ``message`` that is safe to show a client; ``details`` adds structured fields
    (e.g. ``model``, ``field``) to the envelope.
    """

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.details = details


class InvalidInputError(ServiceError):
    """A field is missing, has the wrong type or value, or does not fit the model (422)."""

    status = 422
    type = "invalid_input"


class MalformedRequestError(ServiceError):
    """The body cannot be parsed at all: bad JSON, bad UTF-8, bad multipart (400)."""

    status = 400
    type = "malformed_request"


class ModelControlError(ServiceError):
    """A load or unload the model control mode does not allow, or that failed (400, as Triton)."""

    status = 400
    type = "model_control"


class UnauthorizedError(ServiceError):
    """Missing or wrong API key (401)."""

    status = 401
    type = "unauthorized"


class ModelNotFoundError(ServiceError):
    """No model, version, head or embedding space of that name (404)."""

    status = 404
    type = "not_found"


class PayloadTooLargeError(ServiceError):
    """Body over ``max_body_bytes``, or an image over ``max_image_pixels`` (413)."""

    status = 413
    type = "payload_too_large"


class UnsupportedMediaError(ServiceError):
    """A content type or image format the service does not read (415)."""

    status = 415
    type = "unsupported_media_type"


class RequestTimeoutError(ServiceError):
    """The client did not send its whole body within ``body_timeout_s`` (408; closes it)."""

    status = 408
    type = "request_timeout"

    def __init__(self, message: str, **details: Any):
        super().__init__(message, headers={"Connection": "close"}, **details)


class OverloadedError(ServiceError):
    """A queue or budget is full; retry after ``Retry-After`` s / ``Retry-After-Ms`` ms (429).

    ``Retry-After`` stays whole seconds (RFC 9110); ``Retry-After-Ms`` is the finer estimate.
    """

    status = 429
    type = "overloaded"

    def __init__(
        self, message: str, *, retry_after_s: int = 1, retry_after_ms: int | None = None,
        **details: Any,
    ):  # fmt: skip
        ms = retry_after_ms if retry_after_ms is not None else retry_after_s * 1000
        headers = {"Retry-After": str(max(1, -(-ms // 1000))), "Retry-After-Ms": str(ms)}
        super().__init__(message, headers=headers, **details)


class NotReadyError(ServiceError):
    """The model is loading or failed to load (503)."""

    status = 503
    type = "not_ready"

    def __init__(self, message: str, *, retry_after_s: int = 1, **details: Any):
        super().__init__(message, headers={"Retry-After": str(retry_after_s)}, **details)


class InferenceTimeoutError(ServiceError):
    """An item waited longer than ``request_timeout_s`` for its batch to run (504)."""

    status = 504
    type = "timeout"


class DeadlineExceededError(ServiceError):
    """The request's end-to-end deadline passed (body read, decode, queue and run) (504).

    Its work is cancelled with it: items still queued are dropped before they reach the model.
    """

    status = 504
    type = "deadline_exceeded"


class ClientDisconnectedError(ServiceError):
    """The client closed the connection before its answer (499, as nginx logs it; never sent)."""

    status = 499
    type = "client_disconnected"


class InferenceError(ServiceError):
    """ONNX Runtime failed on a batch; every request of that batch gets this (500)."""

    status = 500
    type = "inference_error"
