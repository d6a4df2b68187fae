"""Connection hygiene uvicorn does not do itself: a header timeout, a connection cap, a quick exit.

uvicorn has a keep-alive timeout, a concurrency limit (503 past it) and a backlog, all passed
from settings by ``python -m service``; it has no limit on the time a client takes to send a
request head, no cap that closes connections before they cost a file descriptor for long, and on
shutdown it waits the whole graceful timeout for uploads that stall. :func:`guarded_protocol`
returns uvicorn's HTTP protocol class with those three added:

- a connection must send a complete request head within ``header_timeout_s`` of opening, or of
  its previous response, else it is closed (slow-loris on headers);
- past ``max_connections`` open connections, a new one is closed at once, before it is read;
- on shutdown, a connection still sending its request body is closed at once (its request sees
  a disconnect and ends without a traceback), instead of holding the graceful timeout.

The body timeout is the app's (``api/deadline.py``): it needs the request's route and answers
408. Every close is counted (``mms_connections_closed_total{reason}``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from service.events import Observer
from service.settings import Settings

try:  # uvicorn's own choice ("auto"): httptools when it is installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - httptools ships with uvicorn[standard]
    _Base = H11Protocol  # type: ignore[misc,assignment]


def guarded_protocol(settings: Settings, observer: Observer) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol with the header timeout, connection cap and quick shutdown."""

    class GuardedProtocol(_Base):
        header_timeout_s = settings.header_timeout_s
        max_connections = settings.max_connections

        def connection_made(self, transport: Any) -> None:
            self._header_timer: asyncio.TimerHandle | None = None
            self._armed_cycle: object = None
            super().connection_made(transport)
            if len(self.connections) > self.max_connections:
                observer.connection_closed("max_connections")
                transport.close()
                return
            self._arm()

        def data_received(self, data: bytes) -> None:
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
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete and cycle.more_body:
                observer.connection_closed("shutdown")  # an upload still streaming
                self.transport.close()
                return
            super().shutdown()

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
