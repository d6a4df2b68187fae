"""The serving benchmark: raw ONNX Runtime pipeline vs the service over HTTP vs a plain app.

``python -m service.bench --models-dir models`` (``make bench``) measures, in one run, for one
image model (``vision`` by default):

(a) raw: decode + preprocess + one ``session.run`` per batch, in process, at several batch sizes;
(b) served: ``POST /v1/classify`` (one base64 JPEG per request) against the service in a child
    process (uvicorn), at concurrency 1, 8 and 32;
(c) baseline: the same requests against a plain FastAPI app that runs ORT once per request
    (``service/bench_baseline.py``).

Same JPEGs, same preprocessing functions and same session options everywhere; warm-up requests
and batches are not measured; latencies are percentiles of every measured request, raw timings
medians. It prints a table with the ratios the project targets and writes JSON to
``bench-results/``. Service settings come from ``MMS_*`` environment variables, as in production.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import onnxruntime as ort

from contract.manifest import ImageInput, read_manifest
from service.bench_load import LoadResult, LoadSpec, run_load
from service.bench_raw import RawResult, latest_version, measure_raw, open_session, sample_jpegs
from service.bench_server import serve
from service.settings import Settings

log = logging.getLogger("service.bench")

DESCRIPTION = "Raw ONNX Runtime pipeline vs the service over HTTP vs a plain FastAPI app."
SERVICE_APP = "service.app:create_app"
BASELINE_APP = "service.bench_baseline:create_baseline_app"


@dataclass(frozen=True)
class Targets:
    """The figures the project aims for (README "Performance")."""

    served_over_raw: float = 0.9  # served throughput at the top concurrency vs raw best
    p99_over_p50: float = 3.0  # at the top concurrency
    c1_overhead_ms: float = 5.0  # served p50 at concurrency 1 minus one raw single-image call


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.bench", description=DESCRIPTION)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="vision", help="an image model of the repository")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated client counts")
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32", help="raw batch sizes to try")
    parser.add_argument("--requests", type=int, default=400, help="measured requests per level")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="time bound per level")
    parser.add_argument("--raw-images", type=int, default=64, help="images timed per batch size")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator client: raw (light, default) or httpx",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    return parser.parse_args(argv)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def _bodies(model: str, jpegs: list[bytes]) -> list[bytes]:
    """One ``/v1/classify`` body per picture, encoded before any clock starts."""
    return [
        json.dumps({"model": model, "items": [{"image": base64.b64encode(j).decode()}],
                    "top_k": 5}).encode()
        for j in jpegs
    ]  # fmt: skip


def run_raw(args: argparse.Namespace, jpegs: list[bytes]) -> RawResult:
    """(a) The in-process pipeline with the service's session options (from ``MMS_*``)."""
    version_dir = latest_version(args.models_dir, args.model)
    manifest = read_manifest(version_dir)
    spec = manifest.input("image")
    if not isinstance(spec, ImageInput):
        raise SystemExit(f"model {args.model!r} takes no image; the benchmark needs one")
    session = open_session(version_dir, Settings(model_dir=args.models_dir))
    names = [o.name for o in manifest.outputs]
    return measure_raw(
        lambda batch: session.run(names, {spec.name: batch}), spec, jpegs,
        _ints(args.batch_sizes), args.raw_images,
    )  # fmt: skip


def _batching(base: str, model: str) -> dict[str, int]:
    """The service's batch-size histogram so far (``GET /v1/models/{model}``)."""
    info = httpx.get(f"{base}/v1/models/{model}", timeout=10, trust_env=False).json()
    sizes = (info.get("batching") or {}).get("sizes") or {}
    return {str(k): int(v) for k, v in sizes.items()}


def _mean_batch(before: dict[str, int], after: dict[str, int]) -> float:
    delta = {int(k): after.get(k, 0) - before.get(k, 0) for k in after}
    batches = sum(delta.values())
    return sum(k * v for k, v in delta.items()) / batches if batches else float("nan")


def _top_labels(base: str, bodies: list[bytes]) -> list[str]:
    """The first head's top label for each body: both apps must agree (same work, same answer)."""
    labels = []
    for body in bodies:
        response = httpx.post(f"{base}/v1/classify", content=body, timeout=60, trust_env=False,
                              headers={"Content-Type": "application/json"})  # fmt: skip
        response.raise_for_status()
        heads = response.json()["results"][0]["heads"]
        labels.append(str(next(iter(heads.values()))["labels"][0]["label"]))
    return labels


def run_http(
    app: str, args: argparse.Namespace, bodies: list[bytes], *, served: bool
) -> tuple[list[dict[str, Any]], list[str]]:
    """(b)/(c) Load ``app`` at each concurrency: one result dict per level, and top labels."""
    # Only the benchmarked model is loaded; BENCH_MODEL (not MMS_: Settings forbids unknown
    # MMS_ variables) tells the baseline which model to serve.
    env = {"MMS_MODEL_DIR": str(args.models_dir), "MMS_MODELS": args.model,
           "BENCH_MODEL": args.model}  # fmt: skip
    results = []
    with serve(app, env=env, ready_path="/health/ready") as base:
        labels = _top_labels(base, bodies)
        for concurrency in _ints(args.concurrency):
            before = _batching(base, args.model) if served else {}
            spec = LoadSpec(url=f"{base}/v1/classify", bodies=bodies, concurrency=concurrency,
                            requests=args.requests, warmup=max(2 * concurrency, 16),
                            max_seconds=args.max_seconds, client=args.client)  # fmt: skip
            cpu = time.process_time()
            result: LoadResult = run_load(spec)
            row = result.as_dict() | {"client_cpu_s": time.process_time() - cpu}
            if served:
                row["mean_batch"] = _mean_batch(before, _batching(base, args.model))
            log.info("%s c=%d: %.1f req/s p50 %.1f ms p99 %.1f ms", app, concurrency,
                     result.throughput, result.p50_ms, result.p99_ms)  # fmt: skip
            results.append(row)
    return results, labels


def _row(name: str, r: dict[str, Any]) -> str:
    batch = f"{r['mean_batch']:6.1f}" if "mean_batch" in r else "     -"
    return (f"{name:<9}{r['concurrency']:>5}{r['throughput']:>10.1f}{r['p50_ms']:>9.1f}"
            f"{r['p90_ms']:>9.1f}{r['p99_ms']:>9.1f}{batch:>8}{r['errors']:>7}")  # fmt: skip


def summarize(report: dict[str, Any], targets: Targets) -> tuple[list[str], dict[str, Any]]:
    """The printed table and the ratios (with pass/fail against ``targets``)."""
    raw, served, base = report["raw"], report["served"], report.get("baseline") or []
    lines = [f"raw pipeline: best {raw['best_images_per_s']:.1f} images/s at batch "
             f"{raw['best_batch']}; one image {raw['single_ms']:.1f} ms"]  # fmt: skip
    lines += ["raw per batch size: " + ", ".join(
        f"b{b}={v:.1f}/s" for b, v in raw["images_per_s"].items())]  # fmt: skip
    lines.append(f"{'':<9}{'conc':>5}{'req/s':>10}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}"
                 f"{'batch':>8}{'errors':>7}")  # fmt: skip
    lines += [_row("served", r) for r in served] + [_row("baseline", r) for r in base]
    top, low = served[-1], served[0]
    ratios: dict[str, Any] = {
        "served_over_raw": top["throughput"] / raw["best_images_per_s"],
        "p99_over_p50": top["p99_ms"] / top["p50_ms"],
        "c1_overhead_ms": low["p50_ms"] - raw["single_ms"],
    }
    checks = {
        "served_over_raw": ratios["served_over_raw"] >= targets.served_over_raw,
        "p99_over_p50": ratios["p99_over_p50"] <= targets.p99_over_p50,
        "c1_overhead_ms": ratios["c1_overhead_ms"] <= targets.c1_overhead_ms,
    }
    for ours, theirs in zip(served, base, strict=False):
        c = ours["concurrency"]
        ratios[f"throughput_ours_over_baseline_c{c}"] = ours["throughput"] / theirs["throughput"]
        ratios[f"p99_ours_over_baseline_c{c}"] = ours["p99_ms"] / theirs["p99_ms"]
    if "labels_baseline" in report:
        checks["same_answers"] = report["labels_baseline"] == report.get("labels_served")
    if base:
        checks["throughput_vs_baseline"] = top["throughput"] >= base[-1]["throughput"]
        checks["p99_vs_baseline"] = top["p99_ms"] < base[-1]["p99_ms"]
    lines += [f"{k}: {v:.3f}" for k, v in ratios.items()]
    lines += [f"target {k}: {'PASS' if ok else 'MISS'}" for k, ok in checks.items()]
    return lines, {"ratios": ratios, "checks": checks, "targets": vars(targets)}


def _environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0], "platform": platform.platform(),
        "cpus": os.cpu_count(), "loadavg_start": os.getloadavg(),
        "onnxruntime": ort.__version__,
        "mms_env": {k: v for k, v in os.environ.items() if k.startswith("MMS_")},
        "args": {k: str(v) for k, v in vars(args).items()},
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements, print the table, write the JSON; returns 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    args = parse_args(argv)
    report: dict[str, Any] = {"environment": _environment(args), "model": args.model}
    jpegs = sample_jpegs()
    report["images"] = {"count": len(jpegs), "bytes": [len(j) for j in jpegs]}
    report["raw"] = run_raw(args, jpegs).as_dict()
    bodies = _bodies(args.model, jpegs)
    report["served"], report["labels_served"] = run_http(SERVICE_APP, args, bodies, served=True)
    if not args.skip_baseline:
        report["baseline"], labels = run_http(BASELINE_APP, args, bodies, served=False)
        report["labels_baseline"] = labels
        if labels != report["labels_served"]:
            log.error("the two apps disagree: %s vs %s", report["labels_served"], labels)
    report["environment"]["loadavg_end"] = os.getloadavg()
    lines, report["summary"] = summarize(report, Targets())
    print("\n".join(lines))  # the benchmark's output is its table
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
