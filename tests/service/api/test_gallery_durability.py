"""An acknowledged gallery write survives ``kill -9`` of the real service (``python -m service``).

The store-level kill test (tests/service/gallery) kills a writer process; this one kills the
HTTP service after its 200 replies, restarts it on the same data directory, and checks that the
count and a search answer as before. A second service on that directory must fail at start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.live_server import ROOT, _wait_ready, free_port


@contextmanager
def service(
    model_repo: Path, data_dir: Path, log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``python -m service`` on the tiny models and ``data_dir``; killed (SIGKILL) afterwards."""
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "MMS_MODEL_DIR": str(model_repo),
        "MMS_PROVIDERS": "cpu", "MMS_LOG_LEVEL": "WARNING", "MMS_GALLERY_DATA_DIR": str(data_dir),
    }  # fmt: skip
    command = [sys.executable, "-m", "service", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url, process, log)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_acknowledged_items_survive_sigkill_and_a_second_process_fails_at_start(
    model_repo: Path, tmp_path: Path
) -> None:
    data = tmp_path / "gallery"
    texts = [f"a red cat {i}" if i % 2 else f"the blue dog {i}" for i in range(40)]
    query = {"query": {"type": "text", "text": "a red cat"}, "top_k": 40}
    with service(model_repo, data, tmp_path / "first.log") as (url, process):
        assert httpx.post(f"{url}/v1/collections", json={"name": "kept"}).status_code == 201
        for start in range(0, len(texts), 10):
            items = [{"text": t, "metadata": {"i": start + j}}
                     for j, t in enumerate(texts[start : start + 10])]  # fmt: skip
            reply = httpx.post(f"{url}/v1/collections/kept/items", json={"items": items})
            assert reply.status_code == 200, reply.text
        before = httpx.post(f"{url}/v1/collections/kept/search", json=query).json()["results"]
        second = subprocess.run(
            [sys.executable, "-m", "service", "--port", str(free_port())], cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), "MMS_MODEL_DIR": str(model_repo),
                 "MMS_PROVIDERS": "cpu", "MMS_GALLERY_DATA_DIR": str(data)},
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert second.returncode != 0
        assert "in use by another process" in second.stderr and "Qdrant server" in second.stderr
        process.send_signal(signal.SIGKILL)
        process.wait()

    with service(model_repo, data, tmp_path / "second.log") as (url, _):
        assert httpx.get(f"{url}/v1/collections/kept/count").json() == {"count": len(texts)}
        after = httpx.post(f"{url}/v1/collections/kept/search", json=query).json()["results"]
        # The tiny text model maps the numbers to one unknown token: scores tie, so compare sets.
        assert hits(after) == hits(before) and len(after) == len(texts)


def hits(results: list[dict[str, object]]) -> set[tuple[object, float]]:
    return {(h["id"], round(float(str(h["score"])), 5)) for h in results}
