"""The service beside its peers, on the same load: the tables of issue 16, with ratios.

Servers, each started alone in a child process and measured while no other runs:

- ``ours``: the service (``service.app:create_app``), the vision and text models loaded;
- ``plain``: the plain FastAPI vision app, one ``session.run`` per request (``bench/baseline.py``);
- ``litserve``: LitServe 0.2.19, batching 8 / 5 ms (``bench/litserve_peer.py``);
- ``plain-text``: the plain FastAPI text app, one ``session.run`` per text
  (``bench/baseline_text.py``).

Scenarios, all driven by the same closed-loop generator (``bench/load.py``):

- ``vision``: ``POST /v1/classify``, china.jpg as it ships (640x427) in base64 JSON;
- ``vision-large``: the same with a 1920x1280 JPEG made at run time from a sample photo;
- ``sentiment``: ``POST /v1/sentiment``, one corpus sentence per request, short and long ones
  alternating; every server's answers to those sentences give its sentiment r (Pearson's, of
  the valence against the human mean rating), so equal throughput claims come at equal r.

The peers run the ONNX file the issue names: ``model.onnx`` (fp32) for text, and for vision the
file given by ``--peer-vision-file`` (default ``model.onnx``). Each table row says which file
its server used; the service reports its own in ``GET /v1/models/{name}`` once it has variants.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.load import LoadSpec, run_load
from bench.raw import large_jpeg, photo_path
from bench.server import serve_process
from contract.layout import MODEL_FILE, variant_file

log = logging.getLogger(__name__)

SERVICE_APP = "service.app:create_app"
PLAIN_APP = "bench.baseline:create_baseline_app"
PLAIN_TEXT_APP = "bench.baseline_text:create_text_app"


@dataclass(frozen=True)
class Scenario:
    """One table: what every server in it gets, at which concurrencies."""

    name: str
    path: str
    model: str
    bodies: list[bytes]
    concurrency: list[int]
    servers: tuple[str, ...]


@dataclass
class CompareConfig:
    """What to measure (``python -m bench`` fills it from its arguments)."""

    models_dir: Path
    vision_model: str = "vision"
    text_model: str = "text"
    peer_vision_file: str = MODEL_FILE
    requests: int = 400
    max_seconds: float = 8.0
    client: str = "raw"
    vision_concurrency: list[int] = field(default_factory=lambda: [1, 8, 32])
    large_concurrency: list[int] = field(default_factory=lambda: [1, 32])
    text_concurrency: list[int] = field(default_factory=lambda: [1, 32])
    sentences: int = 200
    skip: tuple[str, ...] = ()  # server names to leave out


def _classify_body(model: str, jpeg: bytes) -> bytes:
    image = base64.b64encode(jpeg).decode()
    return json.dumps({"model": model, "items": [{"image": image}], "top_k": 5}).encode()


def corpus_sentences(count: int) -> list[tuple[str, float]]:
    """``count`` test-split corpus sentences with their human mean, short and long alternating:
    the shortest and the longest quarters of the test split, sampled evenly, interleaved."""
    from training.data.sentiment_corpora import load_corpora  # the cached corpora

    items = sorted((i for i in load_corpora() if i.is_test), key=lambda i: (len(i.text), i.id))
    quarter = len(items) // 4
    short, long = items[:quarter], items[-quarter:]
    half = count // 2
    picks = [group[int(k * len(group) / half)] for k in range(half) for group in (short, long)]
    return [(item.text, item.mean) for item in picks]


def scenarios(config: CompareConfig, sentences: list[tuple[str, float]]) -> list[Scenario]:
    """The three tables: vision (china.jpg), vision-large (1920x1280), sentiment."""
    china = photo_path("china.jpg").read_bytes()
    vision_servers = ("ours", "plain", "litserve")
    text_bodies = [json.dumps({"model": config.text_model, "items": [{"text": t}]}).encode()
                   for t, _ in sentences]  # fmt: skip
    return [
        Scenario("vision", "/v1/classify", config.vision_model,
                 [_classify_body(config.vision_model, china)], config.vision_concurrency,
                 vision_servers),
        Scenario("vision-large", "/v1/classify", config.vision_model,
                 [_classify_body(config.vision_model, large_jpeg())], config.large_concurrency,
                 vision_servers),
        Scenario("sentiment", "/v1/sentiment", config.text_model, text_bodies,
                 config.text_concurrency, ("ours", "plain-text")),
    ]  # fmt: skip


def _server_commands(config: CompareConfig) -> dict[str, tuple[str | Callable[[int], list[str]],
                                                                 str, dict[str, str]]]:  # fmt: skip
    base = {"MMS_MODEL_DIR": str(config.models_dir), "BENCH_MODEL": config.vision_model,
            "BENCH_TEXT_MODEL": config.text_model}  # fmt: skip
    peer = {**base, "BENCH_MODEL_FILE": config.peer_vision_file}

    def litserve(port: int) -> list[str]:
        return [sys.executable, "-m", "bench.litserve_peer", "--port", str(port)]

    models = f"{config.vision_model},{config.text_model}"
    return {
        "ours": (SERVICE_APP, "/health/ready", {**base, "MMS_MODELS": models}),
        "plain": (PLAIN_APP, "/health/ready", peer),
        "litserve": (litserve, "/health", peer),
        "plain-text": (PLAIN_TEXT_APP, "/health/ready", {**base, "BENCH_MODEL_FILE": MODEL_FILE}),
    }


def _model_files(server: str, base: str, config: CompareConfig) -> dict[str, str]:
    """Which ONNX file the server ran, per model."""
    if server != "ours":
        return {"vision": config.peer_vision_file} if server in ("plain", "litserve") else {
            "text": MODEL_FILE}  # fmt: skip
    files = {}
    for model in (config.vision_model, config.text_model):
        info = httpx.get(f"{base}/v1/models/{model}", timeout=10, trust_env=False).json()
        precision = info.get("precision") or "fp32"  # the variant it serves (contract.manifest)
        files[model] = MODEL_FILE if precision == "fp32" else variant_file(precision)
    return files


def _batch_sizes(base: str, model: str) -> dict[str, int]:
    """The service's batch-size histogram so far (``GET /v1/models/{model}``)."""
    info = httpx.get(f"{base}/v1/models/{model}", timeout=10, trust_env=False).json()
    sizes = (info.get("batching") or {}).get("sizes") or {}
    return {str(k): int(v) for k, v in sizes.items()}


def mean_batch(before: dict[str, int], after: dict[str, int]) -> float:
    """Mean batch size between two histograms (nan when no batch ran)."""
    delta = {int(k): after.get(k, 0) - before.get(k, 0) for k in after}
    batches = sum(delta.values())
    return sum(k * v for k, v in delta.items()) / batches if batches else float("nan")


def _answers(base: str, path: str, bodies: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for body in bodies:
        response = httpx.post(base + path, content=body, timeout=60, trust_env=False,
                              headers={"Content-Type": "application/json"})  # fmt: skip
        response.raise_for_status()
        out.append(response.json()["results"][0])
    return out


def _quality(scenario: Scenario, base: str, sentences: list[tuple[str, float]]) -> dict[str, Any]:
    """What the server answered: the top label (vision), or the sentiment r (text)."""
    if scenario.name != "sentiment":
        (heads,) = (r["heads"] for r in _answers(base, scenario.path, scenario.bodies[:1]))
        return {"top_label": next(iter(heads.values()))["labels"][0]["label"]}
    results = _answers(base, scenario.path, scenario.bodies)
    valence = np.array([float(r["valence"]) for r in results])
    human = np.array([mean for _, mean in sentences])
    return {"sentiment_r": float(np.corrcoef(valence, human)[0, 1]), "sentences": len(results)}


def measure_server(
    server: str, config: CompareConfig, plan: list[Scenario], sentences: list[tuple[str, float]]
) -> dict[str, Any]:
    """Start ``server`` alone, run every scenario it takes part in, stop it."""
    app, ready, env = _server_commands(config)[server]
    rows: dict[str, Any] = {}
    started = time.perf_counter()
    with serve_process(app, env=env, ready_path=ready) as served:
        base = served.base
        rows["startup_s"] = time.perf_counter() - started
        rows["model_files"] = _model_files(server, base, config)
        for scenario in plan:
            if server not in scenario.servers:
                continue
            levels = []
            for concurrency in scenario.concurrency:
                cpu: list[float] = []  # the server's CPU seconds when the measured phase starts
                spec = LoadSpec(url=base + scenario.path, bodies=scenario.bodies,
                                concurrency=concurrency, requests=config.requests,
                                warmup=max(2 * concurrency, 16), max_seconds=config.max_seconds,
                                client=config.client,  # type: ignore[arg-type]
                                before_measure=lambda cpu=cpu: cpu.append(served.cpu_seconds()),
                                )  # fmt: skip
                before = _batch_sizes(base, scenario.model) if server == "ours" else {}
                result = run_load(spec).as_dict()
                # CPU per request: barely moved by other processes, unlike latency and req/s
                result["server_cpu_ms"] = ((served.cpu_seconds() - cpu[0]) * 1000
                                           / max(1, result["requests"]))  # fmt: skip
                if server == "ours":
                    result["mean_batch"] = mean_batch(before, _batch_sizes(base, scenario.model))
                log.info("%s %s c=%d: %.1f req/s p50 %.1f ms p99 %.1f ms", server, scenario.name,
                         concurrency, result["throughput"], result["p50_ms"],
                         result["p99_ms"])  # fmt: skip
                levels.append(result)
            rows[scenario.name] = {"levels": levels, **_quality(scenario, base, sentences)}
    return rows


def run_comparison(config: CompareConfig) -> dict[str, Any]:
    """Every server, one after the other; the report ``tables`` prints."""
    sentences = corpus_sentences(config.sentences)
    plan = scenarios(config, sentences)
    order = [s for s in ("ours", "plain", "litserve", "plain-text") if s not in config.skip]
    return {
        "scenarios": {s.name: {"path": s.path, "concurrency": s.concurrency,
                               "servers": [n for n in s.servers if n in order]} for s in plan},
        "servers": {server: measure_server(server, config, plan, sentences) for server in order},
    }  # fmt: skip


def _cell(level: dict[str, Any]) -> str:
    cpu = f", {level['server_cpu_ms']:.1f} ms CPU" if "server_cpu_ms" in level else ""
    return f"{level['throughput']:.1f} ({level['p50_ms']:.1f} / {level['p99_ms']:.1f} ms{cpu})"


def tables(report: dict[str, Any]) -> list[str]:
    """The issue's tables (req/s, p50 / p99) per scenario, then ours over each peer."""
    lines: list[str] = []
    servers = report["servers"]
    for name, scenario in report["scenarios"].items():
        present = [s for s in scenario["servers"] if name in servers.get(s, {})]
        if not present:
            continue
        header = " | ".join(f"c={c} req/s (p50 / p99, server CPU per request)"
                            for c in scenario["concurrency"])  # fmt: skip
        lines += ["", f"{name}: POST {scenario['path']}",
                  f"| server | model file | {header} | answer |",
                  "|---|---|" + "---|" * len(scenario["concurrency"]) + "---|"]  # fmt: skip
        for server in present:
            row = servers[server][name]
            files = ", ".join(f"{m}: {f}" for m, f in servers[server]["model_files"].items())
            answer = (f"r={row['sentiment_r']:.3f}" if "sentiment_r" in row
                      else str(row.get("top_label")))  # fmt: skip
            cells = " | ".join(_cell(level) for level in row["levels"])
            lines.append(f"| {server} | {files} | {cells} | {answer} |")
        lines += _ratios(name, present, servers)
    return lines


def _ratios(name: str, present: list[str], servers: dict[str, Any]) -> list[str]:
    if "ours" not in present:
        return []
    ours = servers["ours"][name]["levels"]
    out = []
    for peer in (p for p in present if p != "ours"):
        theirs = servers[peer][name]["levels"]
        parts = [f"c={a['concurrency']}: throughput x{a['throughput'] / b['throughput']:.2f}, "
                 f"p50 x{a['p50_ms'] / b['p50_ms']:.2f} ({a['p50_ms'] - b['p50_ms']:+.1f} ms), "
                 f"p99 x{a['p99_ms'] / b['p99_ms']:.2f}" + _cpu_ratio(a, b)
                 for a, b in zip(ours, theirs, strict=True)]  # fmt: skip
        out.append(f"ours/{peer}: " + "; ".join(parts))
    return out


def _cpu_ratio(ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    if not ours.get("server_cpu_ms") or not theirs.get("server_cpu_ms"):
        return ""  # absent, or below the 10 ms resolution of the process clock
    return f", server CPU per request x{ours['server_cpu_ms'] / theirs['server_cpu_ms']:.2f}"
