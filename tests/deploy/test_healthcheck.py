"""docker/healthcheck.py against a local HTTP server that plays the service's readiness."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import ClassVar

import pytest

from tests.deploy.conftest import DOCKER_DIR

Loader = Callable[[str], ModuleType]


class _Ready(BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[tuple[int, type[_Ready]]]:
    handler = type("Handler", (_Ready,), {"paths": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], handler
    httpd.shutdown()
    httpd.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_url_uses_mms_port_and_the_readiness_path(docker_module: Loader) -> None:
    module = docker_module("healthcheck")
    assert module.ready_url({}) == "http://127.0.0.1:8000/health/ready"
    assert module.ready_url({"MMS_PORT": "9000"}) == "http://127.0.0.1:9000/health/ready"


@pytest.mark.parametrize(("status", "ready"), [(200, True), (503, False), (500, False)])
def test_only_200_is_healthy(
    docker_module: Loader, server: tuple[int, type[_Ready]], status: int, ready: bool
) -> None:
    port, handler = server
    handler.status = status
    ok, line = docker_module("healthcheck").probe(f"http://127.0.0.1:{port}/health/ready", 2.0)
    assert ok is ready
    assert f"HTTP {status}" in line
    assert handler.paths == ["/health/ready"]


def test_nothing_listening_is_unhealthy(docker_module: Loader) -> None:
    ok, line = docker_module("healthcheck").probe(f"http://127.0.0.1:{_free_port()}/x", 2.0)
    assert not ok and "refused" in line.lower()


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1)])
def test_script_exit_code_follows_readiness(
    server: tuple[int, type[_Ready]], status: int, code: int
) -> None:
    port, handler = server
    handler.status = status
    result = subprocess.run(
        [sys.executable, str(DOCKER_DIR / "healthcheck.py")],
        env={**os.environ, "MMS_PORT": str(port)}, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == code
    assert f"HTTP {status}" in result.stdout
