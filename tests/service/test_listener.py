"""The batch-accepting listener (``service/listener.py``) on uvloop and on asyncio's own loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
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


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def _run(name: str, body: Callable[[asyncio.AbstractEventLoop], object]) -> None:
    loop = LOOPS[name]()
    try:
        loop.run_until_complete(body(loop))  # type: ignore[arg-type]
    finally:
        loop.close()


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_a_burst_waiting_in_the_queue_is_accepted_on_one_wakeup(loop_name: str) -> None:
    Recorder.made = []
    server = _listening()
    port = server.getsockname()[1]
    # The kernel completes these handshakes with nobody accepting: they wait in the queue, as
    # clients coming back after a burst of 429s do.
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(300)]

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        listener = Listener(loop, server, Recorder, batch=512)
        listener.start()
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(Recorder.made) == len(clients):
                break
        assert len(Recorder.made) == 300
        assert listener.accepted == 300
        assert listener.wakeups == 1  # one readiness event took them all (libuv: 300 iterations)
        clients[-1].sendall(b"hi")
        clients[-1].settimeout(5)
        assert await loop.run_in_executor(None, clients[-1].recv, 16) == b"echo:hi"
        listener.close()
        await listener.wait_closed()
        for conn in Recorder.made:
            conn.transport.close()

    try:
        _run(loop_name, body)
    finally:
        for client in clients:
            client.close()


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_batches_are_bounded_and_close_stops_accepting(loop_name: str) -> None:
    Recorder.made = []
    server = _listening()
    port = server.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]

    async def body(loop: asyncio.AbstractEventLoop) -> None:
        listener = Listener(loop, server, Recorder, batch=4)
        listener.start()
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(Recorder.made) == len(clients):
                break
        assert len(Recorder.made) == 10
        assert listener.wakeups == 3  # 4 + 4 + 2: the loop served others between batches
        listener.close()
        assert server.fileno() == -1  # the listening socket is closed
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
        for conn in Recorder.made:
            conn.transport.close()

    try:
        _run(loop_name, body)
    finally:
        for client in clients:
            client.close()
