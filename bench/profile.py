"""Where one lone request spends its time: latency at concurrency 1 and a pyinstrument profile.

``python -m bench.profile --models-dir models`` (README "Performance") starts the service in a
child process (``vision`` and ``text`` only), sends one request at a time to ``/v1/sentiment``
(corpus-like sentences) and ``/v1/classify`` (china.jpg), and prints, per endpoint, the p50
latency unprofiled, beside the same requests against the plain apps (``bench/baseline.py``,
``bench/baseline_text.py``), then the profile of the service's event-loop thread (pyinstrument,
sampling every 0.1 ms) over the same requests. Time the loop spends waiting (``select``) is time
the request spends in worker threads (decoding, ONNX Runtime) or in thread hops.

The child is ``python -m bench.profile serve``: uvicorn in this interpreter's main thread; SIGUSR1
starts the profiler, SIGUSR2 stops it and writes the text report.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import statistics
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from bench.client import KeepAliveConnection
from bench.server import Served, serve_process

SENTENCES = (
    "Good.",
    "The plot was thin, but the actors made every scene worth watching.",
    "I would not buy this again.",
    "An absolutely wonderful, heartfelt film that I will remember for years to come, and "
    "recommend to anyone who asks me about the best movies of the decade.",
)
HEADERS = {"Content-Type": "application/json"}
FLAT_MARK = "--- self time per function ---"


def bodies(endpoint: str) -> list[bytes]:
    """The request bodies of ``endpoint`` (``sentiment`` or ``classify``), one item each."""
    if endpoint == "sentiment":
        return [json.dumps({"items": [{"text": t}]}).encode() for t in SENTENCES]
    import sklearn.datasets

    china = (Path(str(sklearn.datasets.__file__)).parent / "images" / "china.jpg").read_bytes()
    image = base64.b64encode(china).decode()
    return [json.dumps({"model": "vision", "items": [{"image": image}], "top_k": 5}).encode()]


async def _latencies(url: str, payloads: list[bytes], count: int) -> list[float]:
    connection = KeepAliveConnection(url, HEADERS, timeout_s=30)
    out = []
    try:
        for n in range(count):
            start = time.perf_counter()
            status = await connection.post(payloads[n % len(payloads)])
            if status != 200:
                raise RuntimeError(f"{url} answered {status}")
            out.append(time.perf_counter() - start)
    finally:
        await connection.close()
    return out


def lone_requests(served: Served, endpoint: str, count: int) -> dict[str, float]:
    """p50 latency and server CPU time per request of ``count`` sequential requests (after 20
    unmeasured ones). CPU time barely moves with the machine's load; latency does."""
    url, payloads = f"{served.base}/v1/{endpoint}", bodies(endpoint)
    asyncio.run(_latencies(url, payloads, 20))
    cpu = served.cpu_seconds()
    latencies = asyncio.run(_latencies(url, payloads, count))
    return {"p50_ms": statistics.median(latencies) * 1000,
            "cpu_ms": (served.cpu_seconds() - cpu) / count * 1000}  # fmt: skip


def _serve_child(port: int, out: Path) -> None:
    """The child: the service under uvicorn; SIGUSR1 / SIGUSR2 start / stop the profiler."""
    import uvicorn
    from pyinstrument import Profiler

    from service.app import create_app

    profiler = Profiler(interval=0.0001)

    def start(_signum: int, _frame: FrameType | None) -> None:
        profiler.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        profiler.stop()
        tree = profiler.output_text(unicode=False, color=False)
        flat = profiler.output_text(unicode=False, color=False, flat=True)
        out.write_text(tree + "\n" + FLAT_MARK + "\n" + flat, encoding="utf-8")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    uvicorn.run(create_app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _profile(base: str, endpoint: str, payloads: list[bytes], count: int, out: Path) -> str:
    pid = int(out.with_suffix(".pid").read_text())  # the serving interpreter itself
    os.kill(pid, signal.SIGUSR1)
    time.sleep(0.2)
    asyncio.run(_latencies(f"{base}/v1/{endpoint}", payloads, count))
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return out.read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Measure and print; the profiles also go to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("mode", nargs="?", default="measure", choices=["measure", "serve"])
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=0, help="serve mode: the port")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    args = parser.parse_args(argv)
    if args.mode == "serve":
        (args.out.with_suffix(".pid")).write_text(str(os.getpid()))
        _serve_child(args.port, args.out)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    env = {"MMS_MODEL_DIR": str(args.models_dir), "MMS_MODELS": "vision,text",
           "BENCH_MODEL": "vision", "BENCH_TEXT_MODEL": "text"}  # fmt: skip
    report: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    for endpoint, plain in (("sentiment", "bench.baseline_text:create_text_app"),
                            ("classify", "bench.baseline:create_baseline_app")):  # fmt: skip
        with serve_process(plain, env=env, ready_path="/health/ready") as served:
            report[f"plain_{endpoint}"] = lone_requests(served, endpoint, args.requests)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for endpoint in ("sentiment", "classify"):
        out = (args.out / f"profile-{endpoint}-{stamp}.txt").resolve()

        def child(port: int, out: Path = out) -> list[str]:
            return [sys.executable, "-m", "bench.profile", "serve", "--port", str(port),
                    "--out", str(out)]  # fmt: skip

        with serve_process(child, env=env, ready_path="/health/ready") as served:
            report[f"ours_{endpoint}"] = lone_requests(served, endpoint, args.requests)
            profile = _profile(served.base, endpoint, bodies(endpoint), args.requests, out)
        print(f"--- /v1/{endpoint}: profile of {args.requests} lone requests ({out}) ---")
        tree, _, flat = profile.partition(FLAT_MARK)
        print("\n".join([*tree.splitlines()[:45], FLAT_MARK, *flat.splitlines()[:30]]))
    report["loadavg_end"] = os.getloadavg()
    for endpoint in ("sentiment", "classify"):
        ours, plain = report[f"ours_{endpoint}"], report[f"plain_{endpoint}"]
        print(f"/v1/{endpoint} c=1: p50 ours {ours['p50_ms']:.2f} ms, plain app "
              f"{plain['p50_ms']:.2f} ms ({ours['p50_ms'] - plain['p50_ms']:+.2f}); server CPU "
              f"per request ours {ours['cpu_ms']:.2f} ms, plain {plain['cpu_ms']:.2f}")  # fmt: skip
    print(f"load average {report['loadavg_start']} -> {report['loadavg_end']}")
    (args.out / f"profile-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
