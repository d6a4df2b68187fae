"""A closed-loop HTTP load generator for the benchmark: N workers, each one request at a time.

The bodies are encoded once, before the clock starts, so the generator spends its CPU on HTTP
and not on JSON or base64 (the machine is shared with the server under test); the default
client is the light one of ``client.py`` (``httpx`` is available to cross-check). Warm-up requests
run first, with every connection opened, and are not measured. A run stops after a bounded
number of requests or a bounded time, whichever comes first. Loopback only: the benchmark never
sends traffic off the machine.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
import numpy as np

from bench.client import KeepAliveConnection

__all__ = ["LoadResult", "LoadSpec", "run_load", "summarize"]


@dataclass(frozen=True)
class LoadSpec:
    """What to send, and how hard: ``requests`` measured after ``warmup`` unmeasured ones."""

    url: str
    bodies: list[bytes]
    concurrency: int
    requests: int
    warmup: int
    max_seconds: float = 60.0
    timeout_s: float = 30.0
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    client: Literal["raw", "httpx"] = "raw"
    # called once between the warm-up and the measured phase (e.g. to read the server's CPU time)
    before_measure: Callable[[], object] | None = None


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one measured run (latencies of successful requests only)."""

    concurrency: int
    requests: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    statuses: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    concurrency: int, latencies: list[float], statuses: list[int], seconds: float
) -> LoadResult:
    """Turn raw per-request figures (seconds, status codes) into a :class:`LoadResult`."""
    ok = np.asarray([lat for lat, st in zip(latencies, statuses, strict=True) if st == 200])
    pct = np.percentile(ok, [50, 90, 99]) * 1000 if ok.size else np.full(3, np.nan)
    return LoadResult(
        concurrency=concurrency,
        requests=len(statuses),
        errors=sum(1 for st in statuses if st != 200),
        seconds=seconds,
        throughput=ok.size / seconds if seconds > 0 else 0.0,
        p50_ms=float(pct[0]),
        p90_ms=float(pct[1]),
        p99_ms=float(pct[2]),
        mean_ms=float(ok.mean() * 1000) if ok.size else float("nan"),
        statuses={str(k): v for k, v in sorted(Counter(statuses).items())},
    )


Post = Callable[[bytes], Awaitable[int]]


async def _worker(
    post: Post,
    spec: LoadSpec,
    tickets: itertools.count[int],
    limit: int,
    deadline: float,
    out: list[tuple[float, int]],
) -> None:
    # `tickets` is shared by all workers: each request takes the next number, so exactly `limit`
    # requests go out in total whatever the speed of each connection.
    while (n := next(tickets)) < limit and time.perf_counter() < deadline:
        body = spec.bodies[n % len(spec.bodies)]
        start = time.perf_counter()
        status = await post(body)
        out.append((time.perf_counter() - start, status))


async def _phase(
    posts: list[Post], spec: LoadSpec, limit: int
) -> tuple[list[tuple[float, int]], float]:
    out: list[tuple[float, int]] = []
    tickets = itertools.count()
    start = time.perf_counter()
    deadline = start + spec.max_seconds
    await asyncio.gather(*(_worker(post, spec, tickets, limit, deadline, out) for post in posts))
    return out, time.perf_counter() - start


def _httpx_post(client: httpx.AsyncClient, spec: LoadSpec) -> Post:
    async def post(body: bytes) -> int:
        try:
            response = await client.post(spec.url, content=body, headers=spec.headers)
        except httpx.HTTPError:
            return 0  # transport failure: counted as an error, never retried
        return response.status_code

    return post


async def _run(spec: LoadSpec, posts: list[Post]) -> LoadResult:
    await _phase(posts, spec, max(spec.warmup, spec.concurrency))  # opens every connection
    if spec.before_measure is not None:
        spec.before_measure()
    out, seconds = await _phase(posts, spec, spec.requests)
    latencies = [lat for lat, _ in out]
    statuses = [st for _, st in out]
    return summarize(spec.concurrency, latencies, statuses, seconds)


async def run_load_async(spec: LoadSpec) -> LoadResult:
    """Warm up (unmeasured), then run the measured phase; see :class:`LoadSpec`."""
    if spec.client == "httpx":
        size = spec.concurrency
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        timeout = httpx.Timeout(spec.timeout_s)
        async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
            return await _run(spec, [_httpx_post(client, spec)] * spec.concurrency)
    connections = [KeepAliveConnection(spec.url, spec.headers, spec.timeout_s)
                   for _ in range(spec.concurrency)]  # fmt: skip
    try:
        return await _run(spec, [c.post for c in connections])
    finally:
        await asyncio.gather(*(c.close() for c in connections))


def run_load(spec: LoadSpec) -> LoadResult:
    """Synchronous entry point of :func:`run_load_async` (runs its own event loop)."""
    return asyncio.run(run_load_async(spec))
