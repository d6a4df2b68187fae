"""The batch-accepting listener (``service/listener.py``) on uvloop and on asyncio's own loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest
import uvloop

from service.listener import Listener

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


class Recorder(asyncio.Protocol):
    """Counts the connections opened and answers each one's first bytes."""

    made: ClassVar[list[Recorder]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        Recorder.made.append(self)

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"echo:" + data)  # type: ignore[attr-defined]


def _with_waiting_clients(
    loop_name: str,
    count: int,
    batch: int,
    check: Callable[[asyncio.AbstractEventLoop, Listener, list[socket.socket]], Awaitable[None]],
) -> None:
    """Make ``count`` connections nobody accepts yet (the kernel completes their handshakes and
    queues them, as for clients coming back after a burst of 429s), start a listener, wait until
    it opened them all, then run ``check``."""
    Recorder.made = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    clients = [socket.create_connection(server.getsockname()) for _ in range(count)]

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        listener = Listener(loop, server, Recorder, batch=batch)
        listener.start()
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(Recorder.made) == count:
                break
        assert len(Recorder.made) == count and listener.accepted == count
        await check(loop, listener, clients)
        for conn in Recorder.made:
            conn.transport.close()

    loop = LOOPS[loop_name]()
    try:
        loop.run_until_complete(body(loop))
    finally:
        loop.close()
        for client in clients:
            client.close()
        server.close()


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_a_burst_waiting_in_the_queue_is_accepted_on_one_wakeup(loop_name: str) -> None:
    async def check(
        loop: asyncio.AbstractEventLoop, listener: Listener, clients: list[socket.socket]
    ) -> None:
        assert listener.wakeups == 1  # one readiness event took all 300 (libuv: one each)
        clients[-1].sendall(b"hi")
        clients[-1].settimeout(5)
        assert await loop.run_in_executor(None, clients[-1].recv, 16) == b"echo:hi"
        listener.close()
        await listener.wait_closed()

    _with_waiting_clients(loop_name, 300, 512, check)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_batches_are_bounded_and_close_stops_accepting(loop_name: str) -> None:
    async def check(
        loop: asyncio.AbstractEventLoop, listener: Listener, clients: list[socket.socket]
    ) -> None:
        assert listener.wakeups == 3  # 4 + 4 + 2: the loop served others between batches
        port = listener.sockets[0].getsockname()[1]
        listener.close()
        assert listener.sockets[0].fileno() == -1  # the listening socket is closed
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)

    _with_waiting_clients(loop_name, 10, 4, check)
