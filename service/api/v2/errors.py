"""V2 error bodies: ``{"error": "<message>"}``, as the Open Inference Protocol specifies.

The rest of the service answers with the richer envelope of ``api/errors.py``; the ``/v2``
routes declare this protocol instead (``V2Route``), so Triton's and KServe's clients read the
message where they expect it. Status codes follow Triton's mapping: invalid arguments are 400
(our 422 becomes 400), unknown models 404, unavailable 503; 413, 415, 429 and 504 keep their
meaning. The request id still travels in the ``X-Request-ID`` header.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from service.api.errors import Problem
from service.api.routing import ServiceRoute

__all__ = ["V2_ERRORS", "V2Errors", "V2Route"]


class V2Errors:
    """The Open Inference Protocol's error body."""

    def render(self, problem: Problem, request_id: str | None) -> JSONResponse:
        """``{"error": message}``; 422 becomes the spec's 400."""
        status = 400 if problem.status == 422 else problem.status
        return JSONResponse({"error": problem.message}, status, headers=problem.headers or None)


V2_ERRORS = V2Errors()


class V2Route(ServiceRoute):
    """A protected route whose errors are V2 ``{"error": ...}`` bodies."""

    error_protocol = V2_ERRORS
