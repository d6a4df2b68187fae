"""``python -m bench.abuse --models-dir models``: the service under load and abuse.

README "Under load" holds the figures.

Serves the ``vision`` model with ``python -m service`` (the real entry point: its connection
limits and timeouts apply) in a child process, with the default settings, and runs in turn:

1. capacity: a closed loop at concurrency 8 (successes per second), and the quiet c=1 latency;
2. overload, open loop at 4x capacity; then 512 connections in a closed loop (as ``wrk -c 512``:
   the next request as soon as an answer comes), the same honouring ``Retry-After-Ms``, and
   both again sending ``Expect: 100-continue`` (a refused request then uploads no body):
   goodput against capacity, the p99 of the 429s, the slowest success against the deadline,
   5xx, and how long until a c=1 client is back to its quiet p99 after the load stops;
3. 200 requests aborted 5 ms after sending: ONNX Runtime items run for them, disconnects counted;
4. 50 slow-loris connections (25 on the head, 25 on the body) and 2 multipart floods beside a
   c=1 client: its p99 against the quiet one, and the slow connections the server closed;
5. 128 connections posting 12 MB bodies beside a c=1 client: peak resident memory against the
   documented ceiling, and the c=1 client's answers.

The overload table gives each 429 p99 three ways: as the client saw it, on the wire (from the
request's first packet to the answer's, read by ``tcpdump``: ``bench/wire.py``; "-" without
it) and as the server reports it (``Server-Timing``: the app's time plus the wait in its event
loop before the app ran). ``--only`` runs some of the scenarios after the capacity run.

The overload and slow-client tables also give the server's event-loop lag over the run
(``mms_event_loop_lag_seconds``: how late a 100 ms timer fired), which is where a request waits
before the server's own clock starts. Each scenario prints one Markdown table (paste it into
the README as is). The body is scikit-learn's china.jpg as base64 JSON (262 KB). About 6
minutes on 2 cores.

With ``--proxy nginx`` the clients talk to nginx running ``docker/nginx.conf.template`` (as
Compose deploys it, with its defaults; ``bench/nginx.py``) in front of the same service: its
admission server refuses API requests past ``NGINX_MAX_INFLIGHT`` with its own 429, so the
429 p99 is nginx's. nginx runs on the load's CPUs; the server's own figures (metrics, loop
lag, the bracketed times) still come from the service. The overload table then also reads
nginx's access log (the template's timings): the p99 of its 429s counted from when the whole
request had arrived (``upstream_time``: admission's answer) and from the request's first byte
(``request_time``, which includes the upload), and the slowest success both ways.

Where the load is made: the measured c=1 client and each load generator run in processes of
their own (``--load-procs`` share the overload connections), so a busy generator's event loop
never delays the client that measures; and with ``--server-cpus`` (default: the upper half of
the CPUs this process may use) the server is pinned apart from the load, which keeps the other
CPUs. A load generator on the server's cores measures the generator: with everything on both
cores, one Python process making 512 connections saw its 429s after 1.9 s, which the server had
answered in 4 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from bench import abuse_clients as c
from bench import nginx, wire
from bench.server import HOST, ROOT, free_port, wait_ready

SCENARIOS = ("overload", "aborts", "slow", "memory")
DEADLINE_S = 30.0  # MMS_REQUEST_TIMEOUT_S, the default
# README "Under load": baseline + 4 bytes per admitted body byte + 8 bytes per budgeted pixel.
CEILING_MB = 600 + (4 * 192) + (8 * 160_000_000) // 2**20


@dataclass(frozen=True)
class Front:
    """What the clients talk to: the service itself, or nginx with its access log."""

    base: str
    access_log: Path | None = None

    def mark(self) -> int:
        """Where the access log ends now (0 without one)."""
        return self.access_log.stat().st_size if self.access_log else 0

    def since(self, mark: int) -> list[tuple[int, float, float | None]]:
        """nginx's ``(status, request_time, upstream_time)`` of the requests logged after
        ``mark`` (nginx writes its log buffer within a second)."""
        if self.access_log is None:
            return []
        with self.access_log.open("rb") as log:
            log.seek(mark)
            return nginx.timings(log.read().decode(errors="replace").splitlines())


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print its table; 0 when the server came up."""
    args = _parse(argv)
    small = _china_body()
    server_cpus = _pin(args.server_cpus)
    with (
        _service(args.models_dir, server_cpus) as (base, pid),
        _front(args.proxy, base, args.nginx_nice) as front,
    ):
        url = front.base + "/v1/classify"
        print(
            f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} CPUs; "
            f"server on CPUs {_cpus(server_cpus)}, load on {_cpus(os.sched_getaffinity(0))}; "
            f"clients talk to {'nginx, then ' if front.access_log else ''}the service\n"
        )
        asyncio.run(_scenarios(base, url, pid, small, args, front))
    print(f"load after: {os.getloadavg()[0]:.2f} (1-min average)")
    return 0


async def _scenarios(
    base: str, url: str, pid: int, small: bytes, args: argparse.Namespace, front: Front
) -> None:
    pool = c.Pool(url, 60.0)
    await c.closed_loop(pool, small, 8, 3.0)  # warm-up, not measured
    capacity = await c.closed_loop(pool, small, 8, args.seconds / 2)
    cap = len(capacity.of(200)) / capacity.seconds
    quiet = await c.closed_loop(pool, small, 1, 5.0)
    quiet_p99 = _p(quiet.of(200), 99)
    _table("Capacity (closed loop)", ["run", "req/s 200", "p50 ms", "p99 ms"], [
        ["c=8", f"{cap:.1f}", _ms(_p(capacity.of(200), 50)), _ms(_p(capacity.of(200), 99))],
        ["c=1", f"{len(quiet.of(200)) / quiet.seconds:.1f}", _ms(_p(quiet.of(200), 50)),
         _ms(quiet_p99)],
    ])  # fmt: skip
    if "overload" in args.only:
        await _overloads(base, url, pool, small, cap, quiet_p99, args, front)
    if "aborts" in args.only:
        await _aborts(base, url, small)
    if "slow" in args.only:
        await _slow(base, url, small, quiet_p99, args.slow_seconds)
    if "memory" in args.only:
        await _memory(base, url, pid, small, args.seconds)
    await pool.close()


async def _overloads(
    base: str, url: str, pool: c.Pool, small: bytes, cap: float, quiet_p99: float,
    args: argparse.Namespace, front: Front,
) -> None:  # fmt: skip
    rows, at_nginx = [], []
    n = args.load_procs
    for name, kind, amount, backoff, expect in (
        ("open loop 4x", "open", 4 * cap / n, False, False),
        ("512 connections", "closed", 512 // n, False, False),
        ("512 connections, honouring Retry-After-Ms", "closed", 512 // n, True, False),
        ("512 connections, Expect: 100-continue", "closed", 512 // n, False, True),
        (
            "512 connections, Retry-After-Ms and Expect: 100-continue",
            "closed",
            512 // n,
            True,
            True,
        ),
    ):
        lag, mark = _lag(base), front.mark()
        with wire.capture(urlsplit(url).port or 80) as seen:
            out = c.Outcomes.merged(await asyncio.gather(*(
                _elsewhere(_overload, url, small, kind, amount, args.seconds, backoff, expect)
                for _ in range(n))))  # fmt: skip
        lag_text = _lag_since(base, lag)
        recovery = await c.recovery_s(pool, small, quiet_p99 * 1.5)
        rows.append([*_overload_row(name, out, seen, cap, recovery), lag_text])
        if front.access_log:
            await asyncio.sleep(1.1)  # nginx writes its log buffer every second
            at_nginx.append(_nginx_row(name, front.since(mark)))
    if seen.error:
        print(f"(no wire figures: {seen.error})")
    if front.access_log:
        _table("Overload at nginx (its access log; seconds)",
               ["run", "429s", "429 p99 after arrival / from first byte",
                "slowest 200 after arrival / from first byte"], at_nginx)  # fmt: skip
    _table("Overload (latency as the client saw it / on the wire; the server's own in brackets)",
           ["run", "sent", "goodput req/s", "of capacity", "429 p99 ms",
            "max 200 s (deadline 30)", "5xx", "other", "recovery s",
            "loop lag mean ms / samples > 20 ms"], rows)  # fmt: skip


def _overload_row(
    name: str, out: c.Outcomes, seen: wire.WireLog, cap: float, recovery: float
) -> list[str]:
    goodput = len(out.of(200)) / out.seconds
    other = len(out.results) - len(out.of(200)) - len(out.of(429)) - out.count(500, 600)
    on_wire = "-" if seen.error else _ms(_p(seen.of(429), 99))
    return [name, str(len(out.results)), f"{goodput:.1f}", f"{goodput / cap:.0%}",
            f"{_ms(_p(out.of(429), 99))} / {on_wire} ({_ms(_p(out.server(429), 99))})",
            f"{max(out.of(200), default=0):.2f} ({max(out.server(200), default=0):.2f})",
            str(out.count(500, 600)), str(other), f"{recovery:.2f}"]  # fmt: skip


def _nginx_row(name: str, logged: list[tuple[int, float, float | None]]) -> list[str]:
    """One overload run as nginx logged it: its 429s' p99 from when the whole request had
    arrived and from its first byte; the longest a success took, each way."""
    refused = [(took, after or 0.0) for status, took, after in logged if status == 429]
    served = [(took, after or 0.0) for status, took, after in logged if status == 200]
    p99 = (f"{_p([a for _, a in refused], 99):.3f} / {_p([t for t, _ in refused], 99):.3f}"
           if refused else "-")  # fmt: skip
    slowest = (f"{max(a for _, a in served):.2f} / {max(t for t, _ in served):.2f}"
               if served else "-")  # fmt: skip
    return [name, str(len(refused)), p99, slowest]


async def _aborts(base: str, url: str, small: bytes) -> None:
    before_items = c.metric(base, "mms_batch_size_sum", model="vision")
    before_gone = c.metric(base, "mms_requests_abandoned_total", reason="disconnect")
    for _ in range(200):
        await c.abort_after(url, small, 0.005)
    await asyncio.sleep(2.0)  # let any work that had started finish
    ran = c.metric(base, "mms_batch_size_sum", model="vision") - before_items
    gone = c.metric(base, "mms_requests_abandoned_total", reason="disconnect") - before_gone
    shed = c.metric(base, "mms_items_rejected_total", reason="abandoned")
    _table("200 requests aborted 5 ms after sending",
           ["aborted", "ORT items run", "ORT runs avoided", "disconnects counted",
            "items dropped from batches (total)"],
           [["200", f"{ran:.0f}", f"{200 - ran:.0f}", f"{gone:.0f}", f"{shed:.0f}"]])  # fmt: skip


async def _slow(base: str, url: str, small: bytes, quiet_p99: float, seconds: float) -> None:
    before = {r: c.metric(base, "mms_connections_closed_total", reason=r)
              for r in ("header_timeout", "body_timeout")}  # fmt: skip
    flood = c.flood_body(200_000)[0]
    lag = _lag(base)
    noise = asyncio.gather(
        _elsewhere(_slow_clients, url, seconds), _elsewhere(_floods, url + "/upload", seconds)
    )
    await asyncio.sleep(1.0)
    normal = await c.closed_loop(c.Pool(url, 60.0), small, 1, seconds - 2)
    closed, floods_answered = await noise
    lag_text = _lag_since(base, lag)
    after = {r: c.metric(base, "mms_connections_closed_total", reason=r) - before[r]
             for r in before}  # fmt: skip
    head_closed = [s for s in closed[:25] if s is not None]
    body_closed = [s for s in closed[25:] if s is not None]
    p99 = _p(normal.of(200), 99)
    _table(f"50 slow-loris connections + 2 multipart floods ({len(flood) // 2**20} MB, "
           "200,000 parts) beside c=1",
           ["c=1 p99 quiet ms", "c=1 p99 now ms", "ratio", "c=1 non-200", "head conns closed",
            "body conns closed", "closed after s (max)", "server count header/body",
            "flood answers", "loop lag mean ms / samples > 20 ms"],
           [[_ms(quiet_p99), _ms(p99), f"{p99 / quiet_p99:.2f}x",
             str(len(normal.results) - len(normal.of(200))), f"{len(head_closed)}/25",
             f"{len(body_closed)}/25", f"{max(head_closed + body_closed, default=0):.1f}",
             f"{after['header_timeout']:.0f}/{after['body_timeout']:.0f}",
             str(floods_answered), lag_text]])  # fmt: skip


async def _memory(base: str, url: str, pid: int, small: bytes, seconds: float) -> None:
    big = _big_body()
    start_mb = c.rss_mb(pid)
    with c.rss_peak(pid) as samples:
        heavy = asyncio.create_task(_elsewhere(_overload, url, big, "closed", 128, seconds, False))
        await asyncio.sleep(1.0)
        normal = await c.closed_loop(c.Pool(url, 60.0), small, 1, seconds - 2)
        heavy_out = await heavy
    _table(f"128 connections posting {len(big) / 1e6:.0f} MB bodies beside c=1",
           ["RSS before MB", "RSS peak MB", "ceiling MB", "after MB", "big answers",
            "c=1 answers", "c=1 429s not from the service", "c=1 p99 ms"],
           [[f"{start_mb:.0f}", f"{max(samples, default=0):.0f}", str(CEILING_MB),
             f"{c.rss_mb(pid):.0f}", json.dumps(heavy_out.statuses()),
             json.dumps(normal.statuses()), str(len(normal.of(429)) - len(normal.server(429))),
             _ms(_p(normal.of(200), 99))]])  # fmt: skip


async def _overload(
    url: str,
    body: bytes,
    kind: str,
    amount: float,
    seconds: float,
    backoff: bool,
    expect: bool = False,
) -> c.Outcomes:
    """One load process's share: an open loop at ``amount`` req/s, or ``amount`` users (with
    ``expect``, each request waits for ``100 Continue`` before it sends its body)."""
    pool = c.Pool(url, 60.0, expect_continue=expect)
    if kind == "open":
        out = await c.open_loop(pool, body, amount, seconds)
    else:
        out = await c.closed_loop(pool, body, int(amount), seconds, backoff=backoff)
    await pool.close()
    return out


async def _slow_clients(url: str, seconds: float) -> list[float | None]:
    """25 slow-loris connections on the head and 25 on the body (in that order)."""
    kinds = ["headers"] * 25 + ["body"] * 25
    return list(await asyncio.gather(*(c.slow_client(url, k, seconds) for k in kinds)))


async def _floods(url: str, seconds: float) -> int:
    """Two multipart floods back to back; how many of their requests were answered."""
    flood, boundary = c.flood_body(200_000)
    return sum(await asyncio.gather(*(c.multipart_flood(url, flood, boundary, seconds)
                                      for _ in range(2))))  # fmt: skip


def _run_async(fn: Callable[..., Awaitable[object]], *args: object) -> object:
    return asyncio.run(fn(*args))  # type: ignore[arg-type]


async def _elsewhere(fn: Callable[..., Awaitable[Any]], *args: object) -> Any:
    """``await fn(*args)`` in a fresh process (its own interpreter and event loop)."""
    ctx = multiprocessing.get_context("spawn")
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return await loop.run_in_executor(pool, _run_async, fn, *args)


def _pin(spec: str) -> set[int] | None:
    """The CPUs the server gets (this process keeps the others); None: no pinning."""
    allowed = sorted(os.sched_getaffinity(0))
    if spec == "none" or len(allowed) < 2:
        return None
    if spec == "auto":
        server = set(allowed[len(allowed) // 2 :])
    else:
        server = {int(x) for x in spec.split(",")}
    if not server < set(allowed):
        raise SystemExit(f"--server-cpus {spec}: must be a proper subset of {allowed}")
    os.sched_setaffinity(0, set(allowed) - server)
    return server


def _cpus(cpus: set[int] | None) -> str:
    return ",".join(map(str, sorted(cpus))) if cpus else "all"


def _lag(base: str) -> tuple[float, float, float]:
    """The server's loop-lag histogram now: (sum s, samples, samples at most 20 ms)."""
    name = "mms_event_loop_lag_seconds"
    return (c.metric(base, name + "_sum"), c.metric(base, name + "_count"),
            c.metric(base, name + "_bucket", le="0.02"))  # fmt: skip


def _lag_since(base: str, before: tuple[float, float, float]) -> str:
    """Mean loop lag and the share of samples over 20 ms since ``before``."""
    total, samples, fast = (now - then for now, then in zip(_lag(base), before, strict=True))
    return f"{1000 * total / samples:.1f} / {(samples - fast) / samples:.0%}" if samples else "-"


def _china_body() -> bytes:
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")).save(buffer, "JPEG", quality=95)
    return _classify_body(buffer.getvalue())


def _big_body() -> bytes:
    """About 12 MB of JSON: a noisy PNG (noise does not compress) as base64."""
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (1700, 1700, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=1)
    return _classify_body(buffer.getvalue())


def _classify_body(image: bytes) -> bytes:
    item = {"image": base64.b64encode(image).decode()}
    return json.dumps({"model": "vision", "items": [item], "top_k": 1}).encode()


@contextmanager
def _service(models_dir: Path, cpus: set[int] | None) -> Iterator[tuple[str, int]]:
    port = free_port()
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "MMS_MODEL_DIR": str(models_dir),
           "MMS_MODELS": "vision", "MMS_LOG_LEVEL": "WARNING"}  # fmt: skip
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryFile() as log:
        env["MMS_GALLERY_DATA_DIR"] = data
        cmd = [sys.executable, "-m", "service", "--host", HOST, "--port", str(port)]
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin)
        try:
            base = f"http://{HOST}:{port}"
            wait_ready(base + "/health/ready", proc, 180.0)
            yield base, proc.pid
        finally:
            proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
            if proc.poll() is None:
                proc.kill()
            log.seek(0)
            errors = [line for line in log.read().decode(errors="replace").splitlines()
                      if "Traceback" in line or "ERROR" in line]  # fmt: skip
            print(f"server log: {len(errors)} error/traceback lines")
            for line in errors[:10]:
                print("   ", line[:300])


@contextmanager
def _front(proxy: str, service: str, nice: int = 0) -> Iterator[Front]:
    """What clients talk to: the service itself, or nginx in front of it."""
    if proxy == "none":
        yield Front(service)
        return
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    values = nginx.deployment_defaults()
    with tempfile.TemporaryDirectory(prefix="nginx-") as tmp:
        prefix, port = Path(tmp), free_port()
        settings = {name: value for name, value in values.items() if name.startswith("NGINX_")}
        settings |= {
            "NGINX_UPSTREAM": service.removeprefix("http://"),
            "NGINX_MAX_BODY_BYTES": values["MMS_MAX_BODY_BYTES"],
        }  # as compose sets them
        conf = nginx.render(settings, port, nginx.nginx_version(binary), prefix)
        nginx.write_prefix(prefix, conf)  # the deployment's workers and events
        process = nginx.start(binary, prefix, port, nice)
        print(
            f"nginx {binary}: NGINX_MAX_INFLIGHT={settings['NGINX_MAX_INFLIGHT']}, "
            f"NGINX_MAX_INFLIGHT_LARGE={settings['NGINX_MAX_INFLIGHT_LARGE']}, nice {nice:+d}"
        )
        try:
            yield Front(f"http://{HOST}:{port}", nginx.access_log(prefix))
        finally:
            nginx.stop(process)
            log = nginx.error_log(prefix).read_text(errors="replace").splitlines()
            errors = [line for line in log if re.search(r"\[(error|crit|alert|emerg)\]", line)]
            print(f"nginx log: {len(errors)} error lines")
            for line in errors[:10]:
                print("   ", line[:300])


def _table(title: str, head: list[str], rows: list[list[str]]) -> None:
    print(f"### {title}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(flush=True)


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.abuse",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--seconds", type=float, default=30.0, help="per overload/memory run")
    parser.add_argument(
        "--slow-seconds",
        type=float,
        default=25.0,
        help="the slow-loris run; longer than MMS_BODY_TIMEOUT_S (20)",
    )
    parser.add_argument(
        "--server-cpus",
        default="auto",
        help="CPUs for the server, e.g. 1 or 2,3 (the load keeps the rest); "
        "auto: the upper half; none: no pinning",
    )
    parser.add_argument(
        "--load-procs", type=int, default=4, help="processes that share the overload connections"
    )
    parser.add_argument(
        "--proxy",
        choices=("none", "nginx"),
        default="none",
        help="nginx: the clients go through docker/nginx.conf.template run by "
        "the local nginx, as Compose deploys it (default: none)",
    )
    parser.add_argument(
        "--nginx-nice",
        type=int,
        default=0,
        help="added to nginx's niceness (below 0 needs root); -10 gives it about the CPU weight "
        "over the load generators it shares a core with that Compose's cpu_shares gives it "
        "over a replica (default: 0)",
    )
    parser.add_argument(
        "--only",
        type=lambda v: set(v.split(",")),
        default=set(SCENARIOS),
        help="comma-separated scenarios after the capacity run: "
        + ",".join(SCENARIOS)
        + " (default: all)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
