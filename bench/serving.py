"""The serving benchmark: the raw ONNX Runtime pipeline, then the service beside its peers.

``python -m bench --models-dir models`` (``make bench``) measures, in one run:

(a) raw: decode + preprocess + one ``session.run`` per batch of the vision model, in process,
    at several batch sizes (the ceiling the served throughput is compared with);
(b) the comparison of ``bench/compare.py``: the service, the plain FastAPI apps (vision and
    text, one ``session.run`` per request) and LitServe (batching 8 / 5 ms), each alone, on
    ``/v1/classify`` with china.jpg (c=1/8/32) and with a 1920x1280 JPEG (c=1/32), and on
    ``/v1/sentiment`` with short and long corpus sentences (c=1/32) and each server's
    sentiment r on them.

Warm-up requests and batches are not measured; latencies are percentiles of every measured
request, raw timings medians. It prints the tables with the ratios the project targets and
writes JSON to ``bench-results/``. Service settings come from ``MMS_*`` environment variables,
as in production; the peers take the same session options.
"""

from __future__ import annotations

import argparse
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

import onnxruntime as ort

from bench.compare import CompareConfig, run_comparison, tables
from bench.raw import RawResult, measure_raw, open_session, sample_jpegs
from contract.layout import latest_version_dir
from contract.manifest import MODEL_FILE, ImageInput, read_manifest
from service.settings import Settings

log = logging.getLogger("bench")

DESCRIPTION = "Raw ONNX Runtime pipeline, then the service beside the plain apps and LitServe."


@dataclass(frozen=True)
class Targets:
    """The figures the project aims for (README "Performance")."""

    served_over_raw: float = 0.9  # served throughput at the top concurrency vs raw best
    p99_over_p50: float = 3.0  # at the top concurrency
    c1_overhead_ms: float = 5.0  # served p50 at concurrency 1 minus one raw single-image call


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=DESCRIPTION)
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", default="vision", help="an image model of the repository")
    parser.add_argument("--concurrency", default="1,8,32", help="vision (china.jpg) client counts")
    parser.add_argument("--large-concurrency", default="1,32", help="1920x1280 JPEG client counts")
    parser.add_argument("--text-concurrency", default="1,32", help="/v1/sentiment client counts")
    parser.add_argument("--text-model", default="text", help="the text model of the repository")
    parser.add_argument("--sentences", type=int, default=200, help="corpus sentences in rotation")
    parser.add_argument("--peer-vision-file", default=MODEL_FILE,
                        help="the ONNX file of the vision version directory that the plain app "
                        "and LitServe run (e.g. an int8 variant's)")  # fmt: skip
    parser.add_argument("--batch-sizes", default="1,2,4,8,16,32", help="raw batch sizes to try")
    parser.add_argument("--requests", type=int, default=400, help="measured requests per level")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="time bound per level")
    parser.add_argument("--raw-images", type=int, default=64, help="images timed per batch size")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="load generator client: raw (light, default) or httpx",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="leave out the plain apps")
    parser.add_argument("--skip-litserve", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    return parser.parse_args(argv)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def compare_config(args: argparse.Namespace) -> CompareConfig:
    """The comparison's settings from the command line."""
    skip = (("plain", "plain-text") if args.skip_baseline else ()) + (
        ("litserve",) if args.skip_litserve else ())  # fmt: skip
    return CompareConfig(
        models_dir=args.models_dir, vision_model=args.model, text_model=args.text_model,
        peer_vision_file=args.peer_vision_file, requests=args.requests,
        max_seconds=args.max_seconds, client=args.client,
        vision_concurrency=_ints(args.concurrency),
        large_concurrency=_ints(args.large_concurrency),
        text_concurrency=_ints(args.text_concurrency), sentences=args.sentences, skip=skip,
    )  # fmt: skip


def run_raw(args: argparse.Namespace, jpegs: list[bytes]) -> RawResult:
    """(a) The in-process pipeline with the service's session options (from ``MMS_*``)."""
    version_dir = latest_version_dir(args.models_dir, args.model)
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
    if not served:  # no china.jpg level (--concurrency ""): the comparison tables alone
        return lines, {"ratios": {}, "checks": {}, "targets": vars(targets)}
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
    """Run the measurements, print the tables, write the JSON; returns 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    args = parse_args(argv)
    report: dict[str, Any] = {"environment": _environment(args), "model": args.model}
    jpegs = sample_jpegs()
    report["images"] = {"count": len(jpegs), "bytes": [len(j) for j in jpegs]}
    report["raw"] = run_raw(args, jpegs).as_dict()
    report["comparison"] = run_comparison(compare_config(args))
    servers = report["comparison"]["servers"]
    report["served"] = servers["ours"]["vision"]["levels"]
    report["labels_served"] = [servers["ours"]["vision"]["top_label"]]
    if "plain" in servers:
        report["baseline"] = servers["plain"]["vision"]["levels"]
        report["labels_baseline"] = [servers["plain"]["vision"]["top_label"]]
    labels = {name: rows["vision"]["top_label"] for name, rows in servers.items()
              if "vision" in rows}  # fmt: skip
    if len(set(labels.values())) > 1:
        log.error("the servers disagree on china.jpg: %s", labels)
    report["environment"]["loadavg_end"] = os.getloadavg()
    lines, report["summary"] = summarize(report, Targets())
    lines += tables(report["comparison"])
    print("\n".join(lines))  # the benchmark's output is its tables
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"bench-{args.model}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
