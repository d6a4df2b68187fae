"""Pure ASGI middleware: request ids, API key, body size limit, request metrics.

Pure ASGI (not ``BaseHTTPMiddleware``) so streaming bodies are counted as they arrive and the
endpoint runs in the caller's task. Errors raised here are rendered with the same envelope as the
route's errors: the service's envelope, or ``{"error": msg}`` on the ``/v2`` (Open Inference) paths.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import render_service_error
from service.api.v2_errors import render_v2_error
from service.errors import PayloadTooLargeError, ServiceError, UnauthorizedError
from service.events import Observer
from service.settings import Settings

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_INTERNAL = ServiceError("internal server error; see the server log")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")
# Probes, metrics and docs stay reachable without the API key (load balancers, Prometheus).
OPEN_PREFIXES = ("/health", "/v2/health", "/metrics", "/docs", "/openapi.json", "/static/")


class RequestContextMiddleware:
    """Assigns the request id, checks the API key and size limit, reports request metrics."""

    def __init__(self, app: ASGIApp, settings: Settings, observer: Observer) -> None:
        self.app = app
        self.settings = settings
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        endpoint = _endpoint(scope)
        started = time.perf_counter()
        self.observer.request_started(endpoint)
        status = 500
        response_started = dropping = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started, dropping
            if message["type"] == "http.response.start":
                if response_started:  # the limit already answered 413: drop the app's reply
                    dropping = True
                    return
                response_started, status = True, message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("ascii")),
                ]
            elif dropping:
                return
            await send(message)

        try:
            self._check(scope)
            limited = _LimitedReceive(receive, send_with_id, self.settings.max_body_bytes,
                                      _renderer(scope, request_id))  # fmt: skip
            await self.app(scope, limited, send_with_id)
        except ServiceError as error:
            if not response_started:
                await _render(scope, error, request_id)(scope, receive, send_with_id)
        except Exception:  # the generic 500, rendered here so it carries the request id
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if not response_started:
                await _render(scope, _INTERNAL, request_id)(scope, receive, send_with_id)
        finally:
            model = scope["state"].get("model")
            self.observer.request_finished(endpoint, model, status, time.perf_counter() - started)

    def _check(self, scope: Scope) -> None:
        """API key first (cheap, no body read), then the declared Content-Length."""
        key = self.settings.api_key
        protected = key and not _is_open(scope) and scope["method"] != "OPTIONS"
        if protected and not _key_matches(scope, key or ""):
            raise UnauthorizedError(
                "missing or wrong API key; send it as X-API-Key or Authorization: Bearer",
                headers={"WWW-Authenticate": "Bearer"},
            )
        length = _header(scope, b"content-length")
        if length and length.isdigit() and int(length) > self.settings.max_body_bytes:
            raise _too_large(self.settings.max_body_bytes)


class _LimitedReceive:
    """Counts body bytes as they stream in; past the limit answers 413 and stops the app."""

    def __init__(
        self, receive: Receive, send: Send, limit: int, render: Callable[[ServiceError], Response]
    ) -> None:
        self._receive, self._send, self._limit = receive, send, limit
        self._render = render
        self._seen = 0

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self._limit:
                error = _too_large(self._limit)
                response = self._render(error)
                await response({"type": "http"}, self._receive, self._send)
                raise error
        return message


def _render(scope: Scope, error: ServiceError, request_id: str) -> Response:
    """``error`` in the shape the path's clients expect (V2 clients read ``{"error": msg}``)."""
    if str(scope.get("path", "")).startswith("/v2"):
        return render_v2_error(error)  # the request id still goes out in X-Request-ID
    return render_service_error(error, request_id)


def _renderer(scope: Scope, request_id: str) -> Callable[[ServiceError], Response]:
    return lambda error: _render(scope, error, request_id)


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the request body is larger than {limit} bytes; send fewer or smaller items",
        limit=limit,
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _request_id(scope: Scope) -> str:
    given = _header(scope, REQUEST_ID_HEADER.encode())
    return given if given and _VALID_ID.match(given) else uuid.uuid4().hex


def _is_open(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path == "/" or path.startswith(OPEN_PREFIXES)


def _key_matches(scope: Scope, api_key: str) -> bool:
    given = _header(scope, b"x-api-key")
    auth = _header(scope, b"authorization") or ""
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    return given is not None and hmac.compare_digest(given.encode(), api_key.encode())


def _endpoint(scope: Scope) -> str:
    """The route template (bounded label values), or ``other`` for unknown paths."""
    app: Any = scope.get("app")
    for route in _flat_routes(getattr(getattr(app, "router", None), "routes", [])):
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", "other"))
    return "other"


def _flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Routes in matching order; newer FastAPI keeps included routers unflattened."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _flat_routes(inner.routes)
        else:
            yield route
