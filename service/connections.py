"""Connection hygiene uvicorn does not do itself: a header timeout, a connection cap, a quick exit.

uvicorn has a keep-alive timeout, a concurrency limit (503 past it) and a backlog, all passed
from settings by ``python -m service``; it has no limit on the time a client takes to send a
request head, no cap that closes connections before they cost a file descriptor for long, and on
shutdown it waits the whole graceful timeout for uploads that stall. :func:`guarded_protocol`
returns uvicorn's HTTP protocol class with those added:

- a connection must send a complete request head within ``header_timeout_s`` of opening, or of
  its previous response, else it is closed (slow-loris on headers);
- past ``max_connections`` open connections, a new one is closed at once, before it is read;
- the time the request's parsing began goes into its scope, so that ``Server-Timing`` can
  report the wait before the app runs (``api/middleware.py``);
- on shutdown, a connection still sending its request body is closed as soon as it stalls: if
  no byte of it arrives within ``SHUTDOWN_STALL_S`` (and in each such window after), it is
  closed (its request sees a disconnect and ends without a traceback) instead of holding the
  graceful timeout; an upload that keeps streaming is drained like any in-flight request.

The body timeout is the app's (``api/deadline.py``): it needs the request's route and answers
408. Every close is counted (``mms_connections_closed_total{reason}``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.api.middleware import PARSE_BEGAN
from service.events import Observer
from service.settings import Settings

try:  # uvicorn's own choice ("auto"): httptools when it is installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - httptools ships with uvicorn[standard]
    _Base = H11Protocol  # type: ignore[misc,assignment]


#: On shutdown, how long an upload may go without sending a byte before it counts as stalled
#: and is closed. Long enough for a live client's next write (its socket buffer drains in
#: milliseconds), short against the graceful timeout a stalled one would otherwise hold.
SHUTDOWN_STALL_S = 2.0


def guarded_protocol(settings: Settings, observer: Observer) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with the header timeout, connection cap and quick shutdown."""

    class GuardedProtocol(_Base):
        header_timeout_s = settings.header_timeout_s
        max_connections = settings.max_connections

        def connection_made(self, transport: Any) -> None:
            self._header_timer: asyncio.TimerHandle | None = None
            self._armed_cycle: object = None
            self._received = 0  # bytes so far: on shutdown, an upload that grows is alive
            super().connection_made(transport)
            if len(self.connections) > self.max_connections:
                observer.connection_closed("max_connections")
                transport.close()
                return
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()  # a new request's scope
            self.scope["state"][PARSE_BEGAN] = time.perf_counter()  # Server-Timing's queue

        def data_received(self, data: bytes) -> None:
            self._received += len(data)
            super().data_received(data)
            if self._header_timer is not None and self.cycle is not self._armed_cycle:
                self._disarm()  # a new request's head is complete

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # the next request's head is due within the timeout too

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def shutdown(self) -> None:
            super().shutdown()  # idle: closed; in flight: answered, then closed
            if self._uploading():
                self._watch_upload(self._received)

        def _uploading(self) -> bool:
            cycle = self.cycle
            return cycle is not None and not cycle.response_complete and bool(cycle.more_body)

        def _watch_upload(self, seen: int) -> None:
            self.loop.call_later(SHUTDOWN_STALL_S, self._close_if_stalled, seen)

        def _close_if_stalled(self, seen: int) -> None:
            if self.transport.is_closing() or not self._uploading():
                return
            if self._received == seen:
                observer.connection_closed("shutdown")  # an upload that stalled
                self.transport.close()
            else:
                self._watch_upload(self._received)

        def _arm(self) -> None:
            self._disarm()
            self._armed_cycle = self.cycle
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self.cycle is self._armed_cycle and not self.transport.is_closing():
                observer.connection_closed("header_timeout")
                self.transport.close()

    return GuardedProtocol
