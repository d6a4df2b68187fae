"""The benchmark's parts: images, raw timing, load generator, summary; and one tiny full run."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from bench import compare
from bench import serving as bench
from bench.client import KeepAliveConnection
from bench.load import LoadSpec, run_load, summarize
from bench.raw import measure_raw, sample_jpegs
from bench.server import free_port
from contract.manifest import ImageInput
from tests.service.media import encode, picture
from tests.service.tiny_models import build_repository

SPEC = ImageInput(name="image", shape=["batch", 3, 8, 8], size=(8, 8), resize=10)


def test_sample_jpegs_are_distinct_jpeg_files() -> None:
    jpegs = sample_jpegs(6)
    assert len(jpegs) == 6 and len(set(jpegs)) == 6
    assert all(j[:2] == b"\xff\xd8" for j in jpegs)


def test_measure_raw_times_every_batch_size_and_picks_the_fastest() -> None:
    seen: list[tuple[int, ...]] = []

    def run(batch: np.ndarray) -> None:
        seen.append(batch.shape)
        time.sleep(0.01)  # a fixed cost per call: bigger batches are faster per image

    jpegs = [encode(picture(size=(12, 10)), "JPEG") for _ in range(3)]  # decoding is ~free
    result = measure_raw(run, SPEC, jpegs, [4, 2], images=8)
    assert sorted(result.images_per_s) == [1, 2, 4]
    assert result.best_batch == 4
    assert (4, 3, 8, 8) in seen and (1, 3, 8, 8) in seen
    assert result.single_ms >= 10.0


def test_summarize_percentiles_ignore_failed_requests() -> None:
    latencies = [0.01] * 98 + [0.5, 9.9]
    statuses = [200] * 99 + [503]
    result = summarize(8, latencies, statuses, seconds=2.0)
    assert result.requests == 100 and result.errors == 1
    assert result.throughput == pytest.approx(99 / 2.0)
    assert result.p50_ms == pytest.approx(10.0)
    assert result.p99_ms < 9900  # the failed request's 9.9 s is not a latency sample
    assert result.statuses == {"200": 99, "503": 1}


@pytest.fixture()
def echo_url() -> Iterator[str]:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> Response:
        body = await request.body()
        return Response(body, status_code=200 if body != b"fail" else 500)

    @app.post("/chunked")
    async def chunked(request: Request) -> StreamingResponse:
        body = await request.body()
        return StreamingResponse(iter([body, b"-", body]), status_code=201)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/echo"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("client", ["raw", "httpx"])
def test_load_generator_sends_exactly_the_requested_count(echo_url: str, client: str) -> None:
    marks: list[int] = []
    spec = LoadSpec(url=echo_url, bodies=[b"a", b"fail"], concurrency=4, requests=30, warmup=4,
                    client=client,  # type: ignore[arg-type]
                    before_measure=lambda: marks.append(1))  # fmt: skip
    result = run_load(spec)
    assert marks == [1]  # once, between the warm-up and the measured requests
    assert result.requests == 30
    assert result.statuses == {"200": 15, "500": 15}  # bodies alternate
    assert result.concurrency == 4 and result.throughput > 0


def test_summary_ratios_and_checks() -> None:
    def level(c: int, rps: float, p50: float, p99: float) -> dict[str, float]:
        return {"concurrency": c, "throughput": rps, "p50_ms": p50, "p90_ms": p50, "p99_ms": p99,
                "errors": 0}  # fmt: skip

    report = {
        "raw": {"best_images_per_s": 100.0, "best_batch": 8, "single_ms": 12.0,
                "images_per_s": {1: 80.0, 8: 100.0}},
        "served": [level(1, 60, 15.0, 20.0), level(32, 95, 300.0, 600.0)],
        "baseline": [level(1, 70, 13.0, 18.0), level(32, 80, 350.0, 1500.0)],
    }  # fmt: skip
    lines, summary = bench.summarize(report, bench.Targets())
    assert summary["ratios"]["served_over_raw"] == pytest.approx(0.95)
    assert summary["ratios"]["c1_overhead_ms"] == pytest.approx(3.0)
    assert summary["checks"] == {
        "served_over_raw": True, "p99_over_p50": True, "c1_overhead_ms": True,
        "throughput_vs_baseline": True, "p99_vs_baseline": True,
    }  # fmt: skip
    assert any(line.startswith("served ") for line in lines)


def test_summary_without_china_levels_keeps_the_raw_lines() -> None:
    # `python -m bench --concurrency ""` (only the 1920x1280 or the text table) has no served
    # china.jpg level to compare: the summary must say so, not fail on an empty list
    raw = {"best_images_per_s": 100.0, "best_batch": 8, "single_ms": 12.0,
           "images_per_s": {1: 80.0, 8: 100.0}}  # fmt: skip
    report = {"raw": raw, "served": [], "baseline": []}
    lines, summary = bench.summarize(report, bench.Targets())
    assert summary["ratios"] == {} and summary["checks"] == {}
    assert lines[0].startswith("raw pipeline: best 100.0 images/s")


def _level(c: int, rps: float, p50: float, p99: float) -> dict[str, float]:
    return {"concurrency": c, "throughput": rps, "p50_ms": p50, "p90_ms": p50, "p99_ms": p99,
            "errors": 0}  # fmt: skip


def test_comparison_tables_print_every_server_and_ours_over_each_peer() -> None:
    report = {
        "scenarios": {"vision": {"path": "/v1/classify", "concurrency": [1, 32],
                                 "servers": ["ours", "plain", "litserve"]}},
        "servers": {
            "ours": {"model_files": {"vision": "model.onnx"}, "vision": {
                "levels": [_level(1, 80, 12.0, 15.0), _level(32, 240, 130.0, 160.0)],
                "top_label": "palace"}},
            "plain": {"model_files": {"vision": "model.onnx"}, "vision": {
                "levels": [_level(1, 70, 13.0, 19.0), _level(32, 120, 260.0, 460.0)],
                "top_label": "palace"}},
            "litserve": {"model_files": {"vision": "model.onnx"}, "vision": {
                "levels": [_level(1, 50, 20.0, 23.0), _level(32, 80, 400.0, 445.0)],
                "top_label": "palace"}},
        },
    }  # fmt: skip
    report["servers"]["plain"]["vision"]["levels"][1]["server_cpu_ms"] = 0.0  # under resolution
    report["servers"]["ours"]["vision"]["levels"][1]["server_cpu_ms"] = 8.0
    report["servers"]["litserve"]["vision"]["levels"][1]["server_cpu_ms"] = 16.0
    lines = compare.tables(report)
    assert sum(line.startswith("| ours |") for line in lines) == 1
    assert any("| litserve | vision: model.onnx | 50.0 (20.0 / 23.0 ms)" in line for line in lines)
    (plain,) = [line for line in lines if line.startswith("ours/plain:")]
    assert "c=32: throughput x2.00" in plain and "p50 x0.92 (-1.0 ms)" in plain
    (lit,) = [line for line in lines if line.startswith("ours/litserve:")]
    assert "c=32: throughput x3.00" in lit and "server CPU per request x0.50" in lit
    assert "server CPU" not in plain  # no ratio against a zero


def test_mean_batch_is_the_mean_over_new_batches_only() -> None:
    assert compare.mean_batch({"1": 5, "4": 1}, {"1": 6, "4": 3}) == pytest.approx(3.0)
    assert compare.mean_batch({"1": 2}, {"1": 2}) != compare.mean_batch({"1": 2}, {"1": 2})  # nan


@pytest.mark.slow
def test_a_tiny_full_run_writes_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "models").mkdir()
    repo = build_repository(tmp_path / "models")
    # sentences in the tiny tokenizer's words (the corpora are not needed for this), rated
    sentences = [("good great happy", 3.0), ("bad awful sad terrible movie", -3.0),
                 ("love it", 2.0), ("hate", -2.5)]  # fmt: skip
    monkeypatch.setattr(compare, "corpus_sentences", lambda count: sentences[:count])
    out = tmp_path / "results"
    argv = ["--models-dir", str(repo), "--concurrency", "1,4", "--large-concurrency", "2",
            "--text-concurrency", "1,4", "--requests", "12", "--sentences", "4",
            "--batch-sizes", "1,2", "--raw-images", "4", "--out", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    (path,) = out.glob("bench-vision-*.json")
    report = json.loads(path.read_text())
    servers = report["comparison"]["servers"]
    assert set(servers) == {"ours", "plain", "litserve", "plain-text"}
    for name, levels in (("vision", [1, 4]), ("vision-large", [2])):
        for server in ("ours", "plain", "litserve"):
            rows = servers[server][name]["levels"]
            assert [r["concurrency"] for r in rows] == levels
            assert all(r["errors"] == 0 and r["requests"] == 12 for r in rows)
            # the server's own CPU time (tiny models: may be below the clock's 10 ms resolution)
            assert all(r["server_cpu_ms"] >= 0 for r in rows)
        assert len({servers[s][name]["top_label"] for s in ("ours", "plain", "litserve")}) == 1
    ours, plain = servers["ours"]["sentiment"], servers["plain-text"]["sentiment"]
    assert [r["concurrency"] for r in ours["levels"]] == [1, 4]
    assert all(r["errors"] == 0 for r in ours["levels"] + plain["levels"])
    assert ours["sentiment_r"] == pytest.approx(plain["sentiment_r"], abs=1e-4)  # same answers
    assert servers["ours"]["model_files"] == {"vision": "model.onnx", "text": "model.onnx"}
    assert report["served"][0]["mean_batch"] >= 1.0
    assert report["labels_served"] == report["labels_baseline"]
    assert set(report["summary"]["checks"]) >= {"served_over_raw", "p99_vs_baseline"}


def test_keep_alive_connection_reads_chunked_bodies_and_survives_failures(echo_url: str) -> None:
    chunked_url = echo_url.replace("/echo", "/chunked")

    async def scenario() -> list[int]:
        connection = KeepAliveConnection(chunked_url, {}, timeout_s=5)
        statuses = [await connection.post(b"x" * 5000) for _ in range(3)]  # one socket, reused
        dead = KeepAliveConnection(f"http://127.0.0.1:{free_port()}/", {}, timeout_s=5)
        statuses.append(await dead.post(b"x"))  # nothing listens there
        await connection.close()
        return statuses

    assert asyncio.run(scenario()) == [201, 201, 201, 0]
