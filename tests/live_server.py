"""A real service in a subprocess (``python -m service``) on a free port, for client and UI tests.

It serves the default ``vision`` and ``text`` models from ``MMS_MODEL_DIR`` (``models/`` by
default, as ``make test`` sets it); tests that need it skip when those models are not built.
Each server keeps its gallery (the embedded store) in a directory beside its log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("vision", "text")


def model_dir() -> Path:
    """The model repository the tests use (``MMS_MODEL_DIR``, else ``models/``)."""
    path = Path(os.environ.get("MMS_MODEL_DIR", ROOT / "models"))
    return path if path.is_absolute() else ROOT / path


def require_models() -> Path:
    """``model_dir()``, or skip the test when the default models are not built there."""
    path = model_dir()
    missing = [m for m in MODELS if not any((path / m).glob("*/model.onnx"))]
    if missing:
        pytest.skip(f"default models {missing} not built in {path} (run `make models`)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(log_path: Path, **env: str) -> Iterator[str]:
    """Start the service, wait until ready, yield its URL, then stop it (SIGTERM)."""
    port = free_port()
    environment = {
        **os.environ, "PYTHONPATH": str(ROOT), "MMS_MODEL_DIR": str(require_models()),
        "MMS_MODELS": ",".join(MODELS), "MMS_PROVIDERS": "cpu", "MMS_LOG_LEVEL": "WARNING",
        "MMS_GALLERY_DATA_DIR": str(log_path.parent / "gallery"), **env,
    }  # fmt: skip
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the service exited ({process.returncode}):\n{log_path.read_text()}"
            )
        try:
            if httpx.get(f"{url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service was not ready in 120 s:\n{log_path.read_text()}")
