"""Pure ASGI middleware: the request id, the request metrics, and the last-resort 500.

Pure ASGI (not ``BaseHTTPMiddleware``) so the endpoint runs in the caller's task. Routing runs
once, inside the app; afterwards ``scope["route"]`` names the route that was matched, whose path
template is the ``endpoint`` label (bounded label values; ``other`` when nothing matched), and
the models the request resolved come from ``events.track_models``. Checks that depend on the
route (API key, body size) live on the route class (``routing.ServiceRoute``).
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.deadline import ARRIVED
from service.api.errors import error_response
from service.events import Observer, track_models

REQUEST_ID_HEADER = "x-request-id"
#: Key in ``scope["state"]``: ``time.perf_counter()`` when the connection began to parse the
#: request (set by ``service/connections.py``; absent under other servers and in tests).
PARSE_BEGAN = "parse_began"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


class RequestContextMiddleware:
    """Assigns the request id, reports request metrics, renders errors nothing else caught."""

    def __init__(self, app: ASGIApp, observer: Observer) -> None:
        self.app = app
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state[ARRIVED] = time.monotonic()  # where the request's deadline starts
        started = time.perf_counter()
        self.observer.request_started()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started, status = True, message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER.encode(), request_id.encode("ascii")),
                    (b"server-timing", _server_timing(state, started)),
                ]
            await send(message)

        with track_models() as models:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:  # the generic 500, rendered here so it carries the request id
                if not response_started:
                    await error_response(exc, scope)(scope, receive, send_with_id)
            finally:
                endpoint = str(getattr(scope.get("route"), "path", "other"))
                seconds = time.perf_counter() - started
                model = ",".join(sorted(models)) or None
                self.observer.request_finished(endpoint, model, status, seconds)


def _server_timing(state: dict[str, object], started: float) -> bytes:
    """``app``: the time the app took until the answer; ``queue``: before that, from the
    connection parsing the request to the app starting, i.e. the wait in the event loop's
    ready queue, which a burst of requests makes long while each one's app time stays short.
    A client (and the load benchmark) can tell the server's time from the network's and its own.
    """
    timing = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    began = state.get(PARSE_BEGAN)
    if isinstance(began, float):
        timing += f", queue;dur={(started - began) * 1000:.1f}"
    return timing.encode()


def _request_id(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key == REQUEST_ID_HEADER.encode():
            given = str(value.decode("latin-1"))
            return given if _VALID_ID.match(given) else uuid.uuid4().hex
    return uuid.uuid4().hex
