"""The load-and-abuse benchmark's plumbing: outcomes merged across load processes, CPU pinning,
a coroutine run in a process of its own, and nginx put in front of the service."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from bench import abuse
from bench.abuse_clients import Outcomes
from tests.deploy.conftest import require_tool
from tests.deploy.replica import INSTALL, Seen, stub_replica


@pytest.fixture
def affinity() -> Iterator[set[int]]:
    """This process's CPUs, restored after the test (``abuse._pin`` narrows them)."""
    before = os.sched_getaffinity(0)
    yield before
    os.sched_setaffinity(0, before)


def test_outcomes_of_side_by_side_runs_merge_into_one_run() -> None:
    a = Outcomes([(200, 0.1, 0.05), (429, 0.01, 0.001)], seconds=10.0)
    b = Outcomes([(200, 0.2, 0.1)], seconds=10.5)
    merged = Outcomes.merged([a, b])
    assert merged.of(200) == [0.1, 0.2] and merged.of(429) == [0.01]
    assert merged.seconds == 10.5  # side by side: the longest, not the sum
    assert merged.statuses() == {200: 2, 429: 1}


def test_pin_none_leaves_the_affinity_alone(affinity: set[int]) -> None:
    assert abuse._pin("none") is None
    assert os.sched_getaffinity(0) == affinity


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two CPUs")
def test_pin_auto_gives_the_server_the_upper_half_and_keeps_the_rest(affinity: set[int]) -> None:
    server = abuse._pin("auto")
    assert server and server < affinity
    assert os.sched_getaffinity(0) == affinity - server
    assert min(server) > max(affinity - server)


def test_pin_refuses_cpus_outside_the_allowed_set(affinity: set[int]) -> None:
    with pytest.raises(SystemExit, match="proper subset"):
        abuse._pin(str(max(affinity) + 1))
    with pytest.raises(SystemExit, match="proper subset"):
        abuse._pin(",".join(map(str, affinity)))  # nothing left for the load
    assert os.sched_getaffinity(0) == affinity


async def _pid_plus(n: int) -> tuple[int, int]:
    await asyncio.sleep(0)
    return os.getpid(), n + 1


def test_elsewhere_runs_the_coroutine_in_another_process() -> None:
    pid, value = asyncio.run(abuse._elsewhere(_pid_plus, 41))
    assert value == 42 and pid != os.getpid()


async def _expect_exchange(refuse: bool) -> tuple[int, bytes]:
    """A raw server that refuses at once (``refuse``) or says ``100 Continue`` and reads the
    body; returns (status the client saw, what the server received)."""
    from bench.client import KeepAliveConnection

    received = bytearray()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        received.extend(head)
        if refuse:
            writer.write(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            received.extend(await reader.readexactly(4))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await asyncio.sleep(0.05)  # the client's next move arrives here if it writes more
        received.extend(await reader.read(100))
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = KeepAliveConnection(f"http://127.0.0.1:{port}/x", {}, 5.0, expect_continue=True)
    status = await conn.post(b"BODY")
    await conn.close()
    server.close()
    await server.wait_closed()
    return status, bytes(received)


def test_expect_continue_sends_the_body_only_after_100_continue() -> None:
    status, received = asyncio.run(_expect_exchange(refuse=False))
    assert status == 200
    assert b"Expect: 100-continue" in received and received.endswith(b"BODY")


def test_expect_continue_refused_early_never_sends_the_body() -> None:
    status, received = asyncio.run(_expect_exchange(refuse=True))
    assert status == 429
    assert b"Expect: 100-continue" in received and b"BODY" not in received


def test_front_is_the_service_itself_or_nginx_rendered_from_the_template() -> None:
    require_tool("nginx", INSTALL)
    seen = Seen()
    replica = stub_replica(seen)
    threading.Thread(target=replica.serve_forever, daemon=True).start()
    service = f"http://127.0.0.1:{replica.server_address[1]}"
    try:
        with abuse._front("none", service) as front:
            assert front == abuse.Front(service) and front.since(front.mark()) == []
        with abuse._front("nginx", service) as front:
            assert front.base != service
            mark = front.mark()
            request = urllib.request.Request(front.base + "/v1/classify", data=b"{}")
            with urllib.request.urlopen(request, timeout=10) as response:
                answer = json.loads(response.read())
            deadline = time.monotonic() + 10  # nginx writes its access log about a second later
            while not (logged := front.since(mark)) and time.monotonic() < deadline:
                time.sleep(0.1)
        assert answer == {"path": "/v1/classify"}
        assert seen.forwarded_for == ["127.0.0.1"]  # through nginx
        assert [status for status, _, _ in logged] == [200]
    finally:
        replica.shutdown()
        replica.server_close()


def test_nginx_row_gives_the_429_p99_after_arrival_and_the_slowest_success() -> None:
    logged = [(429, 0.2, 0.001)] * 99 + [(429, 0.3, 0.009), (200, 5.0, 0.5), (200, 1.0, 0.9)]
    name, refused, p99, slowest = abuse._nginx_row("run", logged)
    assert (name, refused) == ("run", "100")
    after, first_byte = (float(x) for x in p99.split(" / "))
    assert 0.001 <= after <= 0.009 and 0.2 < first_byte <= 0.3
    assert slowest == "0.90 / 5.00"  # the longest after arrival, the longest from the first byte
    assert abuse._nginx_row("none", []) == ["none", "0", "-", "-"]
