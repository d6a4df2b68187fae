"""docker/nginx.conf.template: ``nginx -t``, then real requests through nginx to a stub replica."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from bench import nginx as harness
from bench.server import free_port
from tests.deploy.conftest import require_tool
from tests.deploy.replica import INSTALL, Seen, stub_replica

BODY_LIMIT = 2**21  # above the 10^6 bytes of a large body, and still quick to send
MAX_INFLIGHT = 3
MAX_INFLIGHT_LARGE = 1
LARGE = b"x" * 10**6


@pytest.fixture(scope="module")
def nginx() -> tuple[str, tuple[int, ...]]:
    binary = require_tool("nginx", INSTALL)
    return binary, harness.nginx_version(binary)


def _values(upstream_port: int) -> dict[str, str]:
    return {
        "NGINX_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "NGINX_MAX_BODY_BYTES": str(BODY_LIMIT),
        "NGINX_PROXY_TIMEOUT": "60s",
        "NGINX_MAX_INFLIGHT": str(MAX_INFLIGHT),
        "NGINX_MAX_INFLIGHT_LARGE": str(MAX_INFLIGHT_LARGE),
    }


def _serve(
    nginx: tuple[str, tuple[int, ...]], prefix: Path, upstream_port: int
) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    harness.write_prefix(prefix, harness.render(_values(upstream_port), port, nginx[1], prefix))
    return f"http://127.0.0.1:{port}", harness.start(nginx[0], prefix, port)


@pytest.fixture(scope="module")
def proxy(
    nginx: tuple[str, tuple[int, ...]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Seen]]:
    """nginx in front of one stub replica, shared by the module's tests."""
    seen = Seen()
    replica = stub_replica(seen)
    threading.Thread(target=replica.serve_forever, daemon=True).start()
    prefix = tmp_path_factory.mktemp("nginx")
    url, process = _serve(nginx, prefix, replica.server_address[1])
    yield url, seen
    harness.stop(process)
    replica.shutdown()
    replica.server_close()


@pytest.fixture
def proxied(proxy: tuple[str, Seen]) -> tuple[str, Seen]:
    """The shared proxy, with the replica's record of requests emptied."""
    proxy[1].requests.clear()
    proxy[1].forwarded_for.clear()
    return proxy


def _request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_configuration_passes_nginx_t(nginx: tuple[str, tuple[int, ...]], tmp_path: Path) -> None:
    harness.write_prefix(tmp_path, harness.render(_values(8000), 8080, nginx[1], tmp_path))
    result = subprocess.run(
        [nginx[0], "-t", "-p", f"{tmp_path}/", "-c", "conf/nginx.conf", "-e", "stderr"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    main = (tmp_path / "conf" / "nginx.conf").read_text()  # docker/nginx.conf, as Compose mounts it
    assert "multi_accept on;" in main  # a burst of hand-overs to admission is accepted at once
    connections = int(re.search(r"worker_connections (\d+);", main).group(1))  # type: ignore[union-attr]
    assert connections >= 4 * 512  # 512 clients: up to four connections each


def test_the_bench_can_start_nginx_at_another_niceness(
    nginx: tuple[str, tuple[int, ...]], tmp_path: Path, docker_module: Callable[[str], ModuleType]
) -> None:
    """bench.abuse --nginx-nice: nginx's workers, which answer the requests, inherit it."""
    children = docker_module("image_probe").children  # the image check's /proc walk
    port = free_port()
    harness.write_prefix(tmp_path, harness.render(_values(free_port()), port, nginx[1], tmp_path))
    process = harness.start(nginx[0], tmp_path, port, nice=3)
    try:
        deadline = time.monotonic() + 10
        while not (workers := children(process.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert workers
        for pid in [process.pid, *workers]:
            assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 3
    finally:
        harness.stop(process)


@pytest.mark.parametrize(
    "path",
    [
        "/health/ready",
        "/v1/models",
        "/v2",
        "/v2/health/ready",
        "/docs",
        "/openapi.json",
        "/static/swagger-ui/x.css",
        "/metrics",
    ],
)
def test_service_paths_reach_a_replica(proxied: tuple[str, Seen], path: str) -> None:
    url, seen = proxied
    status, _, body = _request(url + path)
    assert status == 200 and json.loads(body) == {"path": path}
    (method, upstream_path, request_id) = seen.requests[-1]
    assert (method, upstream_path) == ("GET", path)
    assert request_id and len(request_id) == 32, "nginx makes a request id when none is sent"


def test_client_request_id_is_kept(proxied: tuple[str, Seen]) -> None:
    url, seen = proxied
    _request(url + "/v1/models", headers={"X-Request-ID": "client-id-1"})
    assert seen.requests[-1][2] == "client-id-1"


def test_unknown_paths_get_the_json_envelope_without_reaching_a_replica(
    proxied: tuple[str, Seen],
) -> None:
    url, seen = proxied
    status, headers, body = _request(url + "/admin")
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert json.loads(body)["error"]["type"] == "not_found"
    assert seen.requests == []


def test_body_limit_matches_and_answers_413_as_json(proxied: tuple[str, Seen]) -> None:
    url, seen = proxied
    status, _, _ = _request(url + "/v1/embed", data=b"x" * BODY_LIMIT)
    assert status == 200 and seen.requests[-1][:2] == ("POST", "/v1/embed")
    status, headers, body = _request(url + "/v1/embed", data=b"x" * (BODY_LIMIT + 1))
    assert status == 413 and headers["Content-Type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["type"] == "payload_too_large" and str(BODY_LIMIT) in error["message"]
    assert len(seen.requests) == 1


def test_no_replica_gives_503_json_with_retry_after(
    nginx: tuple[str, tuple[int, ...]], tmp_path: Path
) -> None:
    url, process = _serve(nginx, tmp_path, free_port())
    try:
        status, headers, body = _request(url + "/v1/models")
    finally:
        harness.stop(process)
    assert status == 503 and headers["Retry-After"] == "1"
    assert json.loads(body)["error"]["type"] == "not_ready"


def test_client_address_reaches_the_replica_once(proxied: tuple[str, Seen]) -> None:
    url, seen = proxied
    _request(url + "/v1/models")  # through the admission server: a second proxy hop
    assert seen.forwarded_for[-1] == "127.0.0.1"


@contextmanager
def _held(url: str, seen: Seen, count: int, body: bytes = b"{}") -> Iterator[None]:
    """``count`` API requests with ``body`` parked at the replica until the block ends."""
    seen.release.clear()
    threads = [threading.Thread(target=_request, args=(url + "/v1/hold", body)) for _ in
               range(count)]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        for _ in range(count):
            assert seen.holding.acquire(timeout=10), "a held request did not reach the replica"
        yield
    finally:
        seen.release.set()
        for thread in threads:
            thread.join(timeout=10)


def test_requests_past_the_inflight_limit_get_nginx_429_at_once(proxied: tuple[str, Seen]) -> None:
    url, seen = proxied
    with _held(url, seen, MAX_INFLIGHT):
        start = time.monotonic()
        status, headers, body = _request(url + "/v1/embed", data=b"{}")
        elapsed = time.monotonic() - start
        assert status == 429 and headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == "1" and headers["Retry-After-Ms"] == "100"
        error = json.loads(body)["error"]
        assert error["type"] == "overloaded" and str(MAX_INFLIGHT) in error["message"]
        assert error["request_id"]
        assert elapsed < 2.0
        assert [r[1] for r in seen.requests] == ["/v1/hold"] * MAX_INFLIGHT, "none reached it"
        # health, docs and metrics are not API requests: never refused for the API's load
        assert _request(url + "/health/ready")[0] == 200
    assert _request(url + "/v1/embed", data=b"{}")[0] == 200, "free again once they finish"


def test_the_access_log_has_each_api_request_with_its_id_and_nginx_timings(
    nginx: tuple[str, tuple[int, ...]], tmp_path: Path
) -> None:
    seen = Seen()
    replica = stub_replica(seen)
    threading.Thread(target=replica.serve_forever, daemon=True).start()
    url, process = _serve(nginx, tmp_path, replica.server_address[1])
    try:
        assert _request(url + "/v1/embed", b"{}", {"X-Request-ID": "passed-on"})[0] == 200
        with _held(url, seen, MAX_INFLIGHT):
            assert _request(url + "/v1/embed", b"{}", {"X-Request-ID": "refused"})[0] == 429
        assert _request(url + "/nginx-health")[0] == 200  # not logged
    finally:
        harness.stop(process)  # writes the log's buffer out
        replica.shutdown()
        replica.server_close()
    lines = harness.access_log(tmp_path).read_text().splitlines()
    by_id = {line.split("request_id=")[1].split()[0]: line for line in lines}
    assert set(by_id) >= {"passed-on", "refused"} and not any("nginx-health" in x for x in lines)
    (ok,), (refused,) = (harness.timings([by_id[key]]) for key in ("passed-on", "refused"))
    assert ok[0] == 200 and ok[2] is not None and ok[2] >= 0
    assert ok[1] + 0.002 >= ok[2]  # the whole request outlasts its hand-over (each to the ms)
    assert refused[0] == 429 and refused[2] is not None and refused[2] < 2.0
    line = '1 - - [x] "GET / HTTP/1.1" 404 9 "-" "-" request_id=a request_time=0.1 upstream_time=-'
    assert harness.timings([line]) == [(404, 0.1, None)]


def test_a_client_still_sending_its_body_holds_no_slot(proxied: tuple[str, Seen]) -> None:
    url, seen = proxied
    port = int(url.rsplit(":", 1)[1])
    slow = []
    for _ in range(MAX_INFLIGHT + 1):  # more trickling clients than there are slots
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"POST /v1/embed HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        slow.append(sock)
    try:
        time.sleep(0.2)
        with _held(url, seen, MAX_INFLIGHT):  # every slot still goes to complete requests
            assert all(r[1] == "/v1/hold" for r in seen.requests)
    finally:
        for sock in slow:
            sock.close()


def test_large_bodies_have_a_smaller_pool_and_leave_slots_to_small_ones(
    proxied: tuple[str, Seen],
) -> None:
    url, seen = proxied
    with _held(url, seen, MAX_INFLIGHT_LARGE, body=LARGE):
        status, _, body = _request(url + "/v1/embed", data=LARGE)
        assert status == 429 and json.loads(body)["error"]["type"] == "overloaded"
        assert _request(url + "/v1/embed", data=LARGE[:-1])[0] == 200, "under 10^6: small"
    assert _request(url + "/v1/embed", data=LARGE)[0] == 200
