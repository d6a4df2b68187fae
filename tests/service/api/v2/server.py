"""Serve an app with uvicorn in a background thread on a free loopback port (for real clients)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import tritonclient.http as triton
import uvicorn
from fastapi import FastAPI
from tritonclient.utils import InferenceServerException

from bench.server import HOST, free_port


def _ready(client: triton.InferenceServerClient) -> bool:
    try:
        return bool(client.is_server_ready())
    except (InferenceServerException, OSError):
        return False


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, ready_timeout_s: float = 120.0) -> Iterator[str]:
    """Yield ``host:port`` once ``/v2/health/ready`` answers 200; stop the server on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"{HOST}:{port}"
    client = triton.InferenceServerClient(url, connection_timeout=5)
    try:
        deadline = time.monotonic() + ready_timeout_s
        while not (server.started and _ready(client)):
            assert time.monotonic() < deadline and thread.is_alive(), "server did not become ready"
            time.sleep(0.1)
        yield url
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=30)
