"""The traffic of the load-and-abuse benchmark (``bench/abuse.py``): raw asyncio clients.

Open and closed loops on keep-alive connections (``bench.client``), slow clients that send one
byte a second, clients that abort 5 ms after sending, multipart floods; plus readers of the
server's ``/metrics`` and resident memory. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.client import KeepAliveConnection

JSON = {"Content-Type": "application/json"}


@dataclass
class Outcomes:
    """(status, client seconds, server seconds) of every request a run sent."""

    results: list[tuple[int, float, float]] = field(default_factory=list)
    seconds: float = 0.0

    @classmethod
    def merged(cls, parts: list[Outcomes]) -> Outcomes:
        """The outcomes of runs made side by side (in several processes) as one run."""
        results = [r for p in parts for r in p.results]
        return cls(results, max((p.seconds for p in parts), default=0.0))

    def of(self, status: int) -> list[float]:
        """Latencies the client saw for the requests that got ``status``."""
        return [s for code, s, _ in self.results if code == status]

    def server(self, status: int) -> list[float]:
        """The server's own time (its ``Server-Timing``) for the requests that got ``status``."""
        return [s for code, _, s in self.results if code == status and s == s]  # not NaN

    def statuses(self) -> dict[int, int]:
        """How many requests got each status (0: no HTTP answer), by status."""
        return dict(sorted(Counter(code for code, _, _ in self.results).items()))

    def count(self, low: int, high: int) -> int:
        """Requests with a status in ``[low, high)``."""
        return sum(1 for code, _, _ in self.results if low <= code < high)


class TimedConnection(KeepAliveConnection):
    """A keep-alive connection that also reads the server's ``Server-Timing`` (seconds: the
    app's time plus, where the server reports it, the wait in its event loop before)."""

    server_s = float("nan")
    retry_after_s = 0.0  # the last answer's Retry-After-Ms, in seconds

    def on_headers(self, headers: dict[bytes, bytes]) -> None:
        # app;dur= and, behind `python -m service`, queue;dur= (the wait before the app ran)
        timing = re.findall(rb"(?:app|queue);dur=([0-9.]+)", headers.get(b"server-timing", b""))
        self.server_s = sum(map(float, timing)) / 1000 if timing else float("nan")
        self.retry_after_s = int(headers.get(b"retry-after-ms", b"0") or 0) / 1000


class Pool:
    """Keep-alive connections handed out one request at a time (new ones when all are busy)."""

    def __init__(
        self,
        url: str,
        timeout_s: float,
        headers: dict[str, str] | None = None,
        *,
        expect_continue: bool = False,
    ) -> None:
        self.url, self.timeout_s, self.headers = url, timeout_s, headers or JSON
        self.expect_continue = expect_continue
        self._idle: list[TimedConnection] = []
        self._all: list[TimedConnection] = []

    async def post(self, body: bytes) -> tuple[int, float, float, float]:
        """(status, client seconds, server seconds, Retry-After-Ms in seconds) of one POST
        (status 0: transport failure or client timeout)."""
        conn = self._idle.pop() if self._idle else self._new()
        started = time.perf_counter()
        conn.server_s, conn.retry_after_s = float("nan"), 0.0
        status = await conn.post(body)
        self._idle.append(conn)
        return status, time.perf_counter() - started, conn.server_s, conn.retry_after_s

    def _new(self) -> TimedConnection:
        conn = TimedConnection(
            self.url, self.headers, self.timeout_s, expect_continue=self.expect_continue
        )
        self._all.append(conn)
        return conn

    async def close(self) -> None:
        """Close every connection."""
        await asyncio.gather(*(c.close() for c in self._all))


async def closed_loop(
    pool: Pool, body: bytes, users: int, seconds: float, *, backoff: bool = False
) -> Outcomes:
    """``users`` clients, each sending the next request as soon as the last one answered (with
    ``backoff``, after a 429 only once its ``Retry-After-Ms`` has passed)."""
    out = Outcomes()
    until = time.perf_counter() + seconds

    async def user() -> None:
        while time.perf_counter() < until:
            result = await pool.post(body)
            out.results.append(result[:3])
            if backoff and result[0] == 429:
                await asyncio.sleep(min(result[3], max(0.0, until - time.perf_counter())))

    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(users)))
    out.seconds = time.perf_counter() - started
    return out


async def open_loop(pool: Pool, body: bytes, rate: float, seconds: float) -> Outcomes:
    """Requests sent at ``rate`` per second whatever the answers (new connections as needed)."""
    out = Outcomes()
    tasks: set[asyncio.Task[None]] = set()

    async def one() -> None:
        out.results.append((await pool.post(body))[:3])

    started = time.perf_counter()
    sent = 0
    while (now := time.perf_counter() - started) < seconds:
        due = int(now * rate) + 1 - sent
        for _ in range(due):
            task = asyncio.create_task(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent += due
        await asyncio.sleep(0.002)
    out.seconds = time.perf_counter() - started
    await asyncio.gather(*tasks)
    return out


async def recovery_s(pool: Pool, body: bytes, quiet_p99_s: float, limit_s: float = 10.0) -> float:
    """Seconds after the load stopped until three c=1 requests in a row are 200 within the
    quiet p99 (``limit_s`` when that never happens)."""
    started = time.perf_counter()
    streak = 0
    while (elapsed := time.perf_counter() - started) < limit_s:
        status, seconds, _, _ = await pool.post(body)
        streak = streak + 1 if status == 200 and seconds <= quiet_p99_s else 0
        if streak == 3:
            return elapsed
    return limit_s


async def slow_client(url: str, kind: str, hold_s: float) -> float | None:
    """One connection sending its request head (``headers``) or body (``body``) at one byte a
    second; the seconds until the server closed it (None: still open after ``hold_s``)."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "Content-Type: application/json\r\nContent-Length: 100000\r\n"
    drip = head.encode() if kind == "headers" else b"x" * 100_000
    if kind == "body":
        writer.write(head.encode() + b"\r\n")
    started = time.perf_counter()
    try:
        for byte in drip:
            if time.perf_counter() - started > hold_s:
                return None
            writer.write(bytes([byte]))
            await writer.drain()
            with contextlib.suppress(asyncio.TimeoutError):
                if not await asyncio.wait_for(reader.read(65536), 1.0) and reader.at_eof():
                    return time.perf_counter() - started
            if reader.at_eof():
                return time.perf_counter() - started
    except (ConnectionError, OSError):
        return time.perf_counter() - started
    finally:
        writer.close()
    return None


async def multipart_flood(url: str, body: bytes, boundary: str, seconds: float) -> int:
    """POST ``body`` (a multipart body of tiny parts) back to back; how many were answered."""
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    pool = Pool(url, 60.0, headers)
    answered = 0
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        status, *_ = await pool.post(body)
        answered += status != 0
    await pool.close()
    return answered


async def abort_after(url: str, body: bytes, delay_s: float) -> None:
    """Send one whole request, wait ``delay_s``, and close the connection without reading."""
    parts = urlsplit(url)
    _, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    writer.write(head.encode() + body)
    await writer.drain()
    await asyncio.sleep(delay_s)
    writer.transport.abort()  # no FIN dance: what a client that goes away does


def flood_body(parts: int) -> tuple[bytes, str]:
    """A multipart body of ``parts`` one-byte text fields, and its boundary."""
    boundary = "floodboundary"
    one = f'--{boundary}\r\nContent-Disposition: form-data; name="texts"\r\n\r\na\r\n'.encode()
    return one * parts + f"--{boundary}--\r\n".encode(), boundary


def metric(base: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` on ``/metrics`` whose labels include ``labels``."""
    text = httpx.get(base + "/metrics", timeout=10, trust_env=False).text
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` now, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def rss_peak(pid: int, every_s: float = 0.05) -> Iterator[list[float]]:
    """Sample the resident memory of ``pid`` in a thread; the list holds the samples (MB)."""
    samples: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every_s):
            with contextlib.suppress(OSError):
                samples.append(rss_mb(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
