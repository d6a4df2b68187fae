"""Latency on the wire (``bench/wire.py``): tcpdump's text parsed and paired, and a real capture."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from bench import wire

SERVER = 8000


def _header(t: float, client: int, from_server: bool, flags: str = "P.") -> str:
    src, dst = (SERVER, client) if from_server else (client, SERVER)
    return (f"{t:.6f} IP 127.0.0.1.{src} > 127.0.0.1.{dst}: Flags [{flags}], seq 1:100, "
            "ack 1, win 64, length 99")  # fmt: skip


def test_requests_pair_with_their_answers_per_connection_in_order() -> None:
    text = "\n".join([
        _header(1.000, 5001, False, "S"),
        _header(1.010, 5001, False), "E..4..@.@...POST /v1/classify HTTP/1.1", "Host: x", "",
        _header(1.012, 5002, False), "..POST /v1/classify HTTP/1.1",
        _header(1.015, 5001, True), "....HTTP/1.1 100 Continue", "",  # not the answer
        _header(1.030, 5001, True), "....HTTP/1.1 429 Too Many Requests", "retry-after: 1",
        _header(1.040, 5001, False), "..POST /v1/classify HTTP/1.1",  # keep-alive, 2nd request
        _header(1.100, 5002, True), "..HTTP/1.1 200 OK",
        _header(1.300, 5001, True), "..HTTP/1.1 200 OK",
        _header(2.000, 5003, False), "..POST /v1/classify HTTP/1.1",  # never answered
        _header(2.500, 5003, False, "S"),  # the port reused by a new connection
        _header(2.510, 5003, False), "..POST /v1/classify HTTP/1.1",
        _header(2.530, 5003, True), "..HTTP/1.1 429 Too Many Requests",
    ])  # fmt: skip
    answered = wire.pair(wire._packets(text, SERVER))
    rounded = [(status, round(seconds, 3)) for status, seconds in answered]
    assert rounded == [(429, 0.02), (200, 0.088), (200, 0.26), (429, 0.02)]
    log = wire.WireLog(answered)
    assert [round(s, 3) for s in log.of(429)] == [0.02, 0.02]


def _answer_after(listener: socket.socket, delay_s: float, count: int) -> None:
    """Accept ``count`` connections; answer each one's request with a 429 after ``delay_s``."""
    for _ in range(count):
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            time.sleep(delay_s)
            conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n")
            conn.recv(1)


@pytest.mark.skipif(wire.available() is not None or os.geteuid() != 0,
                    reason="needs tcpdump (installed by .ci/run) and root")  # fmt: skip
def test_a_real_capture_times_a_slow_answer() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    server = threading.Thread(target=_answer_after, args=(listener, 0.08, 3), daemon=True)
    server.start()
    with wire.capture(port) as log:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(b"POST /v1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
                assert client.recv(100).startswith(b"HTTP/1.1 429")
                time.sleep(0.3)  # the client dawdles: not the server's time
    server.join(5)
    listener.close()
    assert log.error is None
    assert len(log.of(429)) == 3
    assert all(0.07 < seconds < 0.25 for seconds in log.of(429)), log.answered
