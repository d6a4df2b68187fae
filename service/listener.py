"""The listening socket, opt-in (``MMS_ACCEPT_BATCH``): accept every waiting connection at once.

uvloop's libuv (1.45 and later, libuv#3696) accepts one connection per event-loop iteration and
relies on level-triggered polling for the next. Under load an iteration serves hundreds of
callbacks, so a burst of new connections, such as clients coming back after a 429 (which
closes the connection), waits in the kernel's accept queue: measured on the loopback
(``bench/wire.py``), 429s reached the wire 1.7-2.0 s (p99) after their request in an open loop
at 4x capacity, while the app took 2 ms. :class:`Listener` accepts until ``EAGAIN`` on each
readiness event (at most ``batch`` sockets, so one event cannot hold the loop for long) and
opens each socket with ``loop.connect_accepted_socket``, the way asyncio's own selector loop
accepts: the same open loop then saw its 429s at 0.41-0.46 s.

It is not the default because the slow accept is also what paces clients that never back off:
512 connections that reconnect at once after each 429 got 85-91 % of capacity through with
uvloop's accept and 28-31 % with this one, the event loop busy with their 429s instead of the
admitted requests' reads (README "Under load"). :class:`Server` is uvicorn's server with this
listener in place of ``loop.create_server`` when ``accept_batch`` > 0; everything else
(lifespan, protocol, graceful shutdown) is uvicorn's.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import sys
from collections.abc import Callable

import uvicorn
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger(__name__)
_uvicorn_log = logging.getLogger("uvicorn.error")  # where uvicorn says where it listens

#: After the process ran out of file descriptors or memory, wait this long before accepting
#: again (asyncio's ``constants.ACCEPT_RETRY_DELAY``): connections wait in the kernel meanwhile.
ACCEPT_RETRY_DELAY_S = 1.0
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Listener:
    """Accepts connections on ``sock`` in batches and opens each with ``protocol_factory``.

    Provides what uvicorn's shutdown needs of an ``asyncio.Server``: ``close`` and
    ``wait_closed``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        batch: int,
    ) -> None:
        self._loop, self._sock, self._factory, self._batch = loop, sock, protocol_factory, batch
        self._opening: set[asyncio.Task[None]] = set()
        self._closed = False
        self.accepted = 0  # sockets accepted so far
        self.wakeups = 0  # readiness events that accepted at least one

    @property
    def sockets(self) -> list[socket.socket]:
        """The listening socket, as ``asyncio.Server.sockets`` has it."""
        return [self._sock]

    def start(self) -> None:
        """Start accepting (the socket must be bound and listening)."""
        self._sock.setblocking(False)
        self._loop.add_reader(self._sock.fileno(), self._accept_waiting)

    def _accept_waiting(self) -> None:
        taken = 0
        while taken < self._batch:
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionAbortedError:
                continue  # the client gave up while it waited in the queue
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRORS:
                    raise
                self._pause(exc)
                break
            taken += 1
            conn.setblocking(False)
            task = self._loop.create_task(self._open(conn))
            self._opening.add(task)
            task.add_done_callback(self._opening.discard)
        if taken:
            self.accepted += taken
            self.wakeups += 1

    async def _open(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError as exc:  # reset before its transport existed: nothing to answer
            log.debug("accepted connection lost while opening: %s", exc)
            conn.close()

    def _pause(self, exc: OSError) -> None:
        log.warning("cannot accept connections (%s); retrying in %.0f s", exc, ACCEPT_RETRY_DELAY_S)
        self._loop.remove_reader(self._sock.fileno())
        self._loop.call_later(ACCEPT_RETRY_DELAY_S, self._resume)

    def _resume(self) -> None:
        if not self._closed:
            self._loop.add_reader(self._sock.fileno(), self._accept_waiting)

    def close(self) -> None:
        """Stop accepting and close the listening socket (open connections are uvicorn's)."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    async def wait_closed(self) -> None:
        """Wait for the connections accepted before :meth:`close` to be opened."""
        if self._opening:
            await asyncio.gather(*self._opening, return_exceptions=True)


class Server(uvicorn.Server):
    """uvicorn's server, accepting through :class:`Listener` (TCP host and port only) up to
    ``accept_batch`` connections a wake-up; 0 keeps uvicorn's own ``loop.create_server``."""

    def __init__(self, config: uvicorn.Config, accept_batch: int) -> None:
        super().__init__(config)
        self.accept_batch = accept_batch

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Run the lifespan's startup, then bind, listen and accept through the listener."""
        config = self.config
        if self.accept_batch == 0 or sockets is not None or config.fd or config.uds:
            await super().startup(sockets)
            return
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        sock = _bind(config.host, config.port, config.backlog)
        if sock is None:
            await self.lifespan.shutdown()
            sys.exit(STARTUP_FAILURE)
        host, port = sock.getsockname()[:2]
        _uvicorn_log.info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)", host, port)
        listener = Listener(asyncio.get_running_loop(), sock, create_protocol, self.accept_batch)
        listener.start()
        self.servers = [listener]  # type: ignore[list-item]  # close/wait_closed is all it uses
        self.started = True


def _bind(host: str, port: int, backlog: int) -> socket.socket | None:
    """A TCP socket bound to ``host:port`` and listening (None, logged, when that fails)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        sock.close()
        return None
    return sock
