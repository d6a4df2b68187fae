"""Run an HTTP server under test in a child process, on a free loopback port.

The server gets its own process (its own interpreter and GIL), as in production, so the load
generator in the benchmark process does not share an event loop or a GIL with it. Output goes
to a log file, which is shown when the server fails to come up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

__all__ = ["Served", "free_port", "serve", "serve_process", "uvicorn_command", "wait_ready"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]  # the checkout: the child imports bench/ from it


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; raise if the process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0, trust_env=False).status_code == 200:
                return
        time.sleep(0.25)
    raise TimeoutError(f"{url} was not ready after {timeout_s:.0f} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (uvicorn drains on it), SIGKILL what is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):  # workers the server left behind
        os.killpg(proc.pid, signal.SIGKILL)


def uvicorn_command(app: str, port: int) -> list[str]:
    """The command that serves the uvicorn app factory ``app`` ("module:function") on ``port``."""
    return [sys.executable, "-m", "uvicorn", "--factory", app, "--host", HOST, "--port", str(port),
            "--no-access-log", "--log-level", "warning"]  # fmt: skip


@dataclass(frozen=True)
class Served:
    """A server the benchmark started: its base URL and process id."""

    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far, with every process it spawned."""
        root = psutil.Process(self.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total


@contextlib.contextmanager
def serve(
    app: str | Callable[[int], list[str]],
    *,
    env: dict[str, str] | None = None,
    ready_path: str,
    timeout_s: float = 180.0,
) -> Iterator[str]:
    """Serve ``app`` in a child process on a free port; yield its base URL (``serve_process``)."""
    with serve_process(app, env=env, ready_path=ready_path, timeout_s=timeout_s) as served:
        yield served.base


@contextlib.contextmanager
def serve_process(
    app: str | Callable[[int], list[str]],
    *,
    env: dict[str, str] | None = None,
    ready_path: str,
    timeout_s: float = 180.0,
) -> Iterator[Served]:
    """Serve ``app`` in a child process on a free port; yield its URL and process id.

    Args:
        app: import string of a uvicorn app factory taking no arguments, or a function that
            returns the command serving on the port it is given (e.g. the LitServe peer).
        env: extra environment variables for the child (e.g. ``MMS_MODEL_DIR``).
        ready_path: path that answers 200 once the server can take the load.
        timeout_s: how long to wait for readiness (model loading and warm-up included).
    """
    port = free_port()
    cmd = uvicorn_command(app, port) if isinstance(app, str) else app(port)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    child_env = {**os.environ, "PYTHONPATH": path, **(env or {})}
    with tempfile.TemporaryFile() as logfile:
        # its own process group, so stopping it also stops the workers a server spawns
        proc = subprocess.Popen(cmd, env=child_env, stdout=logfile, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            base = f"http://{HOST}:{port}"
            try:
                wait_ready(base + ready_path, proc, timeout_s)
            except (RuntimeError, TimeoutError):
                logfile.seek(0)
                log.error("server %s failed:\n%s", cmd, logfile.read().decode(errors="replace"))
                raise
            yield Served(base, proc.pid)
        finally:
            _stop(proc)
