"""Model lifecycle benchmarks: memory given back by an unload, and a version swap under load.

``python -m bench.lifecycle memory --model-dir /work/main/models --model vision``
    resident memory (VmRSS) of this process before a load, after it, and after the unload,
    through the same engine and lifecycle calls the repository API makes; then after three more
    load/unload cycles (a leak would grow) and after ``malloc_trim`` (what the allocator keeps).

``python -m bench.lifecycle swap --mode poll|explicit --source /work/main/models``
    copies the source's model into a temporary repository, serves it (uvicorn, a child process),
    runs ``--concurrency`` clients on ``/v1/classify`` for ``--seconds``, and half-way adds
    version 2 (staged and renamed like the exporter; poll mode picks it up) or, in explicit
    mode, also calls ``POST /v2/repository/models/<name>/load`` (latest:1 loads 2 beside 1,
    then drains and unloads 1). Prints failed requests, the versions that answered after the
    swap, and the p99 latency in steady state and during the swap, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.server import serve
from bench.versions import copy_version


def rss_mib() -> float:
    """This process's resident set size, MiB (Linux ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def measure_memory(model_dir: Path, model: str) -> dict[str, float]:
    """RSS before loading ``model``, after (loaded and warmed), and after its unload."""
    from service.inference.engine import Engine
    from service.settings import Settings

    settings = Settings(model_dir=model_dir, model_control_mode="explicit", providers="cpu")
    engine = Engine(settings)
    await engine.start()
    await engine.wait_loaded(60)
    gc.collect()
    figures = {"before_load_mib": rss_mib()}
    await engine.lifecycle.load(model)
    figures["after_load_mib"] = rss_mib()
    await engine.lifecycle.unload(model)
    gc.collect()
    figures["after_unload_mib"] = rss_mib()
    for _ in range(3):  # a leak would grow with every load/unload cycle
        await engine.lifecycle.load(model)
        await engine.lifecycle.unload(model)
    gc.collect()
    figures["after_3_more_cycles_mib"] = rss_mib()
    if sys.platform == "linux":  # what glibc keeps for reuse, not a leak: give it back to see
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        figures["after_malloc_trim_mib"] = rss_mib()
    await engine.stop()
    return {k: round(v, 1) for k, v in figures.items()}


@dataclass
class Sample:
    """One request: when it started and ended (seconds since the run began), what answered."""

    start: float
    end: float
    status: int
    version: int | None


@dataclass
class SwapRun:
    """Everything the load saw, and when the new version appeared and took over."""

    samples: list[Sample] = field(default_factory=list)
    appeared_at: float = 0.0  # version 2 renamed into place
    swapped_at: float = 0.0  # /v1/models reports only version 2 serving


def _image() -> bytes:
    pixels = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _client(base: str, run: SwapRun, began: float, until: float, model: str) -> None:
    files = {"files": ("x.jpg", _image(), "image/jpeg")}
    async with httpx.AsyncClient(base_url=base, timeout=60.0, trust_env=False) as client:
        while time.perf_counter() < until:
            start = time.perf_counter()
            try:
                response = await client.post(
                    "/v1/classify/upload", files=files, data={"model": model}
                )
                status = response.status_code
                version = response.json().get("version") if status == 200 else None
            except httpx.HTTPError:
                status, version = 0, None
            run.samples.append(Sample(start - began, time.perf_counter() - began, status, version))


async def _swap(base: str, root: Path, model: str, mode: str, run: SwapRun, began: float) -> None:
    copy_version(root, model, 1, 2)
    run.appeared_at = time.perf_counter() - began
    async with httpx.AsyncClient(base_url=base, timeout=120.0, trust_env=False) as client:
        if mode == "explicit":
            response = await client.post(f"/v2/repository/models/{model}/load")
            response.raise_for_status()
        while True:
            info = (await client.get(f"/v1/models/{model}")).json()
            if info["serving_versions"] == [2]:
                run.swapped_at = time.perf_counter() - began
                return
            await asyncio.sleep(0.02)


async def swap_under_load(
    base: str, root: Path, model: str, mode: str, seconds: float, concurrency: int
) -> SwapRun:
    """Load ``base`` for ``seconds``; half-way, add version 2 (and load it, explicit mode)."""
    run, began = SwapRun(), time.perf_counter()
    until = began + seconds
    clients = [_client(base, run, began, until, model) for _ in range(concurrency)]

    async def swap_half_way() -> None:
        await asyncio.sleep(seconds / 2)
        await _swap(base, root, model, mode, run, began)

    await asyncio.gather(*clients, swap_half_way())
    return run


def _p99(latencies: list[float]) -> float | None:
    return round(float(np.percentile(latencies, 99)) * 1000, 1) if latencies else None


def summarize(run: SwapRun, warmup_s: float = 2.0) -> dict[str, Any]:
    """Failures, versions after the swap, and p99 in steady state vs during the swap (ms)."""
    ok = [s for s in run.samples if s.status == 200]
    after = [s for s in ok if s.start > run.swapped_at]
    steady = [s.end - s.start for s in ok if warmup_s < s.start and s.end < run.appeared_at]
    during = [s.end - s.start for s in ok if s.end >= run.appeared_at and s.start <= run.swapped_at]
    return {
        "requests": len(run.samples),
        "failed": len(run.samples) - len(ok),
        "statuses": sorted({s.status for s in run.samples}),
        "new_version_appeared_s": round(run.appeared_at, 2),
        "swap_done_s": round(run.swapped_at, 2),
        "answers_after_swap": len(after),
        "versions_after_swap": sorted({s.version for s in after if s.version is not None}),
        "versions_before_appearing": sorted(
            {s.version for s in ok if s.end < run.appeared_at and s.version is not None}
        ),
        "p99_steady_ms": _p99(steady),
        "p99_during_swap_ms": _p99(during),
        "requests_during_swap": len(during),
        "throughput_rps": round(len(ok) / max(s.end for s in run.samples), 1),
    }


def run_swap(
    source: Path, model: str, mode: str, seconds: float, concurrency: int
) -> dict[str, Any]:
    """Copy ``source/model/1`` into a temporary repository, serve it, swap under load."""
    with tempfile.TemporaryDirectory(prefix="mms-swap-") as tmp:
        root = Path(tmp)
        shutil.copytree(source / model / "1", root / model / "1")
        env = {"MMS_MODEL_DIR": str(root), "MMS_MODELS": model, "MMS_PROVIDERS": "cpu",
               "MMS_MODEL_CONTROL_MODE": mode, "MMS_REPOSITORY_POLL_S": "0.5"}  # fmt: skip
        with serve("service.app:create_app", env=env, ready_path="/health/ready") as base:
            run = asyncio.run(swap_under_load(base, root, model, mode, seconds, concurrency))
    return {"mode": mode, "concurrency": concurrency, "seconds": seconds, **summarize(run)}


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle")
    sub = parser.add_subparsers(dest="command", required=True)
    memory = sub.add_parser("memory", help="RSS before load, after load, after unload")
    memory.add_argument("--model-dir", type=Path, default=Path("models"))
    memory.add_argument("--model", default="vision")
    swap = sub.add_parser("swap", help="a version swap under load")
    swap.add_argument("--source", type=Path, default=Path("models"))
    swap.add_argument("--model", default="vision")
    swap.add_argument("--mode", choices=["poll", "explicit"], default="poll")
    swap.add_argument("--seconds", type=float, default=30.0)
    swap.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if args.command == "memory":
        result: dict[str, Any] = asyncio.run(measure_memory(args.model_dir, args.model))
    else:
        result = run_swap(args.source, args.model, args.mode, args.seconds, args.concurrency)
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0 if result.get("failed", 0) == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
