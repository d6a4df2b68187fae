"""V2 error bodies: ``{"error": "<message>"}``, as the Open Inference Protocol specifies.

The rest of the service answers with one richer envelope; the ``/v2`` routes use this route
class instead, so Triton's and KServe's clients read the message where they expect it. Status
codes follow Triton's mapping: invalid arguments are 400 (our 422 becomes 400), unknown models
404, unavailable 503; 413, 415, 429 and 504 keep their meaning. The request id still travels in
the ``X-Request-ID`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from service.errors import ServiceError

__all__ = ["V2Route", "render_v2_error", "v2_status"]

log = logging.getLogger(__name__)


def v2_status(error: ServiceError) -> int:
    """The HTTP status of ``error`` on a V2 route (the spec's "typically 400" for bad input)."""
    return 400 if error.status == 422 else error.status


def render_v2_error(error: ServiceError) -> JSONResponse:
    """The V2 response for a domain error (also usable from middleware)."""
    return JSONResponse({"error": error.message}, v2_status(error), headers=error.headers or None)


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"


class V2Route(APIRoute):
    """An ``APIRoute`` whose errors are rendered as V2 ``{"error": ...}`` bodies."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as error:
                if error.status >= 500:
                    log.warning("%s: %s", error.type, error.message)
                return render_v2_error(error)
            except RequestValidationError as exc:
                return JSONResponse({"error": _validation_message(exc)}, 400)
            except Exception:  # the traceback goes to the log, never to the client
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                return JSONResponse({"error": "internal server error; see the server log"}, 500)

        return handle
