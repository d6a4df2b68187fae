"""Connection hygiene of ``python -m service`` (a real uvicorn in a subprocess, tiny models):
header and body timeouts, the connection cap, and SIGTERM with stalled uploads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HEAD = b"POST /v1/classify HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _server(
    model_repo: Path, tmp_path: Path, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port = _free_port()
    log_path = tmp_path / "server.log"
    environment = {
        **os.environ, "PYTHONPATH": str(ROOT), "MMS_MODEL_DIR": str(model_repo),
        "MMS_MODELS": "vision", "MMS_PROVIDERS": "cpu", "MMS_LOG_LEVEL": "INFO",
        "MMS_GALLERY_DATA_DIR": str(tmp_path / "gallery"), **env,
    }  # fmt: skip
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port),
               "--graceful-timeout", "30"]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise TimeoutError(log_path.read_text())
        yield url, process, log_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.settimeout(10)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``seconds``, and what it sent before."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        pass
    return True, received


def _metric(url: str, reason: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith("mms_connections_closed_total{") and f'reason="{reason}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_slow_heads_and_bodies_are_closed_and_counted_and_the_cap_holds(
    model_repo: Path, tmp_path: Path
) -> None:
    env = {"MMS_HEADER_TIMEOUT_S": "1", "MMS_BODY_TIMEOUT_S": "1.5", "MMS_MAX_CONNECTIONS": "4",
           "MMS_LIMIT_CONCURRENCY": "50"}  # fmt: skip
    with _server(model_repo, tmp_path, **env) as (url, _, _):
        slow_head = _connect(url)
        slow_head.sendall(HEAD)  # never the blank line that ends the head
        slow_body = _connect(url)
        slow_body.sendall(HEAD + b"Content-Length: 1000\r\n\r\n" + b"{" * 10)
        started = time.monotonic()
        closed, _ = _closed_within(slow_head, 5)
        assert closed and 0.8 < time.monotonic() - started < 4
        closed, reply = _closed_within(slow_body, 5)
        assert closed and reply.startswith(b"HTTP/1.1 408") and b"request_timeout" in reply
        idle = [_connect(url) for _ in range(4)]  # the cap: the 5th is closed before it is read
        time.sleep(0.3)
        extra = _connect(url)
        closed, _ = _closed_within(extra, 0.5)
        assert closed
        for sock in [slow_head, slow_body, extra, *idle]:
            sock.close()
        time.sleep(1.5)  # the idle ones reach their header timeout too
        assert httpx.get(url + "/health/live").status_code == 200
        assert _metric(url, "header_timeout") >= 1
        assert _metric(url, "body_timeout") == 1
        assert _metric(url, "max_connections") >= 1


def test_sigterm_with_stalled_uploads_exits_at_once_without_tracebacks(
    model_repo: Path, tmp_path: Path
) -> None:
    with _server(model_repo, tmp_path) as (url, process, log_path):
        uploads = [_connect(url) for _ in range(5)]
        for sock in uploads:
            sock.sendall(HEAD + b"Content-Length: 100000\r\n\r\n" + b"{" * 100)
        time.sleep(0.5)  # every upload is being read by now
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        elapsed = time.monotonic() - started
        for sock in uploads:
            sock.close()
    log = log_path.read_text()
    assert elapsed < 5, log  # closed once stalled (SHUTDOWN_STALL_S), not the 30 s graceful timeout
    assert process.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises the signal
    assert "Traceback" not in log and "ERROR" not in log, log


def test_sigterm_drains_an_upload_that_keeps_streaming(model_repo: Path, tmp_path: Path) -> None:
    """Only stalled uploads are cut: one that goes on sending after the signal gets its answer
    (the drain the image check also holds), while a stalled one beside it is closed."""
    from tests.service.media import b64, png

    body = b'{"model": "vision", "items": [{"image": "%s"}]}' % b64(png()).encode()
    with _server(model_repo, tmp_path) as (url, process, log_path):
        live, stalled = _connect(url), _connect(url)
        head = HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
        live.sendall(head + body[:10])
        stalled.sendall(HEAD + b"Content-Length: 100000\r\n\r\n" + b"{" * 100)
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # shutting down: the listener is closed, the uploads are watched
        live.sendall(body[10:])
        live.settimeout(20)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = live.recv(65536)
            assert chunk, answer
            answer += chunk
        process.wait(timeout=15)
        live.close()
        stalled.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert "Traceback" not in log_path.read_text()


def test_the_batch_listener_serves_a_burst_shuts_down_and_times_the_queue(
    model_repo: Path, tmp_path: Path
) -> None:
    with _server(model_repo, tmp_path, MMS_ACCEPT_BATCH="64") as (url, process, log_path):
        assert "Uvicorn running on http://127.0.0.1:" in log_path.read_text()
        # 100 connections made at once wait in the kernel's queue; the listener takes up to 64
        # a wake-up, and each gets its answer.
        burst = [_connect(url) for _ in range(100)]
        for sock in burst:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: test\r\n\r\n")
        replies = [sock.recv(4096) for sock in burst]
        assert all(reply.startswith(b"HTTP/1.1 200") for reply in replies)
        timing = replies[-1].split(b"server-timing: ", 1)[1].split(b"\r\n", 1)[0]
        app_ms, queue_ms = (float(part.split(b"dur=")[1]) for part in timing.split(b", "))
        assert timing.startswith(b"app;dur=") and b", queue;dur=" in timing
        assert app_ms >= 0 and 0 <= queue_ms < 5000
        for sock in burst:
            sock.close()
        process.send_signal(signal.SIGTERM)  # uvicorn's shutdown closes the listener
        process.wait(timeout=15)
    log = log_path.read_text()
    assert process.returncode in (0, -signal.SIGTERM), log
    assert "Traceback" not in log and "ERROR" not in log, log
