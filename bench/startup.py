"""Startup benchmark: seconds from process start to ready, and resident memory when ready.

    python -m bench.startup --models-dir models [--runs 3]

Starts ``python -m service`` on a free loopback port, polls ``/health/ready`` every 20 ms, reads
the process's VmRSS from ``/proc`` (Linux) once it answers 200, stops it, and prints each run
and the median.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.02


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc status")


def _models(port: int) -> dict[str, str]:
    """The ready models and the precision each serves."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as reply:
        listed = json.load(reply)["models"]
    return {m["name"]: m.get("precision") or "fp32" for m in listed if m["state"] == "ready"}


@dataclass(frozen=True)
class Startup:
    """One start: seconds to ready, resident memory then, the ready models and their precision."""

    seconds: float
    rss_mib: float
    precisions: dict[str, str]

    @property
    def models(self) -> list[str]:
        return list(self.precisions)


def measure_once(
    models_dir: Path, timeout_s: float, settings: Mapping[str, str] | None = None
) -> Startup:
    """Start the service once (``settings``: extra ``MMS_*`` variables); return seconds to
    ready, RSS in MiB and the ready models."""
    port = _free_port()
    env = {
        **os.environ, "MMS_MODEL_DIR": str(models_dir), "MMS_LOG_LEVEL": "WARNING",
        **(settings or {}),
    }  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)], env=env
    )
    try:
        while not _ready(port):
            if proc.poll() is not None or time.perf_counter() - started > timeout_s:
                raise RuntimeError(f"service not ready after {timeout_s} s (exit {proc.poll()})")
            time.sleep(POLL_S)
        seconds = time.perf_counter() - started
        return Startup(seconds, _rss_mib(proc.pid), _models(port))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    runs = [measure_once(args.models_dir, args.timeout) for _ in range(args.runs)]
    for i, run in enumerate(runs, 1):
        print(
            f"run {i}: ready in {run.seconds:.2f} s, RSS {run.rss_mib:.0f} MiB, "
            f"models: {', '.join(run.models)}"
        )
    seconds = statistics.median(r.seconds for r in runs)
    rss = statistics.median(r.rss_mib for r in runs)
    print(f"median: ready in {seconds:.2f} s, RSS when ready {rss:.0f} MiB ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
