"""Under load: admission before decode, the deadline, disconnects, multipart limits, health."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.multipart import BoundedMultiPartParser
from service.app import create_app
from service.inference import admission
from service.inference.prepare import Preprocessor
from service.inference.session import ModelRunner
from service.settings import Settings
from tests.service.media import b64, png

GOOD = b64(png())
ONE = {"model": "vision", "items": [{"image": GOOD}]}
SERIAL = {"max_batch_size": 1, "concurrent_batches": 1, "batch_autotune": False}


@pytest.fixture
def slow_runs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every ONNX Runtime call takes 0.4 s more; the list gets each call's batch size."""
    calls: list[int] = []
    run = ModelRunner.run

    def slow(self: ModelRunner, items: list) -> list:
        calls.append(len(items))
        time.sleep(0.4)
        return run(self, items)

    monkeypatch.setattr(ModelRunner, "run", slow)
    yield calls


def _until_running(slow_runs: list[int], timeout: float = 10.0) -> None:
    """Wait until the first ONNX Runtime call started (a fixed sleep races a loaded machine)."""
    deadline = time.monotonic() + timeout
    while not slow_runs:
        assert time.monotonic() < deadline, "the first request never reached ONNX Runtime"
        time.sleep(0.01)


def _count(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _metric(client: TestClient, name: str, **labels: str) -> float:
    total = 0.0
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_full_queue_is_429_before_any_decode_with_retry_after_ms(
    make_client: Any, monkeypatch: pytest.MonkeyPatch, slow_runs: list[int]
) -> None:
    limits = {"max_queue_size": 2, "max_items": 2, **SERIAL}
    with make_client(**limits) as client, ThreadPoolExecutor(1) as pool:
        slow_runs.clear()  # the warm-up's runs
        first = pool.submit(client.post, "/v1/classify", json={**ONE, "items": ONE["items"] * 2})
        _until_running(slow_runs)  # its two items are admitted: one runs, one waits
        decodes = _count(monkeypatch, Preprocessor, "prepare")
        peeks = _count(monkeypatch, admission, "image_pixels")
        response = client.post("/v1/classify", json=ONE)
        assert response.status_code == 429, response.text
        assert response.json()["error"]["type"] == "overloaded"
        assert int(response.headers["retry-after-ms"]) >= 10
        assert response.headers["retry-after"].isdigit()
        assert decodes == [] and peeks == []  # refused before its image was looked at
        # The V2 route names its model in the path: refused before the body is even read.
        json_type = {"content-type": "application/json"}
        v2 = client.post("/v2/models/vision/infer", content=b"x" * 1000, headers=json_type)
        assert v2.status_code == 429 and v2.headers["connection"] == "close"  # body not read
        assert first.result().status_code == 200
        assert _metric(client, "mms_requests_shed_total", reason="queue_full") == 2
        assert client.app.state.budgets.arriving == 0  # every request settled its count


def test_past_the_deadline_is_504_and_leaves_no_work_behind(
    make_client: Any, slow_runs: list[int]
) -> None:
    with make_client(**SERIAL) as client, ThreadPoolExecutor(1) as pool:
        slow_runs.clear()
        first = pool.submit(client.post, "/v1/classify", json=ONE)
        _until_running(slow_runs)
        started = time.monotonic()
        late = client.post("/v1/classify", json=ONE, headers={"X-Request-Timeout-Ms": "150"})
        assert time.monotonic() - started < 0.4  # answered at its deadline, not after the run
        assert late.status_code == 504, late.text
        error = late.json()["error"]
        assert error["type"] == "deadline_exceeded" and error["request_id"]
        assert first.result().status_code == 200
        time.sleep(0.6)  # long enough for the expired item to have run, had it stayed queued
        assert slow_runs == [1]  # only the first request's item reached ONNX Runtime
        assert _metric(client, "mms_requests_abandoned_total", reason="deadline") == 1
        assert _metric(client, "mms_items_rejected_total", reason="abandoned") == 1


@pytest.mark.parametrize("value", ["soon", "0", "-5", "1.5", "99999999"])
def test_a_bad_client_deadline_header_is_400(client: TestClient, value: str) -> None:
    response = client.post("/v1/classify", json=ONE, headers={"X-Request-Timeout-Ms": value})
    assert response.status_code == 400
    assert "x-request-timeout-ms" in response.json()["error"]["message"]


def test_the_client_deadline_header_only_shortens_the_settings_deadline(
    make_client: Any, slow_runs: list[int]
) -> None:
    with make_client(request_timeout_s=0.2, **SERIAL) as client:
        response = client.post("/v1/classify", json=ONE, headers={"X-Request-Timeout-Ms": "60000"})
        assert response.status_code == 504  # 0.4 s of run against the 0.2 s setting


def _disconnecting(client: TestClient, body: bytes, *, mid_body: bool) -> list[dict[str, Any]]:
    """Run one request straight on the app: the client goes away during its body or its run."""
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        messages = [{"type": "http.request", "body": body[:10], "more_body": True}]
        if not mid_body:
            messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            if not mid_body:
                await _sleep(0.15)  # the request is being decoded or run by now
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/v1/classify",
                 "raw_path": b"/v1/classify", "query_string": b"", "root_path": "",
                 "scheme": "http", "http_version": "1.1",
                 "server": ("test", 80), "client": ("test", 1),
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", str(len(body)).encode())]}  # fmt: skip
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    client.portal.call(call)
    return sent


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@pytest.mark.parametrize("mid_body", [False, True], ids=["during-run", "during-body"])
def test_a_disconnect_is_counted_as_one_and_its_work_is_dropped(
    make_client: Any, slow_runs: list[int], mid_body: bool
) -> None:
    with make_client(**SERIAL) as client, ThreadPoolExecutor(1) as pool:
        slow_runs.clear()
        busy = pool.submit(client.post, "/v1/classify", json=ONE)  # holds the only runner
        _until_running(slow_runs)
        _disconnecting(client, json.dumps(ONE).encode(), mid_body=mid_body)
        assert busy.result().status_code == 200
        time.sleep(0.6)
        assert slow_runs == [1]  # the disconnected request's item never ran
        assert _metric(client, "mms_requests_abandoned_total", reason="disconnect") == 1
        lines = client.get("/metrics").text.splitlines()
        statuses = {line.split('status="')[1].split('"')[0] for line in lines
                    if line.startswith("mms_requests_total{") and "classify" in line}  # fmt: skip
        assert statuses == {"200", "499"}  # the disconnect is neither a 200 nor a 400


def _form(parts: int, field_bytes: int = 1) -> tuple[bytes, dict[str, str]]:
    one = (b'--b\r\nContent-Disposition: form-data; name="texts"\r\n\r\n'
           + b"a" * field_bytes + b"\r\n")  # fmt: skip
    return one * parts + b"--b--\r\n", {"content-type": "multipart/form-data; boundary=b"}


def test_multipart_part_limits_are_enforced_while_streaming_off_the_loop(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    parse = BoundedMultiPartParser.on_headers_finished

    def counted(self: BoundedMultiPartParser) -> None:
        threads.append(threading.get_ident())
        parse(self)

    monkeypatch.setattr(BoundedMultiPartParser, "on_headers_finished", counted)
    with make_client(max_form_parts=24, max_items=8, max_form_field_bytes=100) as client:
        loop_thread = client.portal.call(_thread_id)
        body, headers = _form(50_000)
        response = client.post("/v1/sentiment/upload", content=body, headers=headers)
        assert response.status_code == 400 and "more than 24 parts" in response.text
        assert response.headers["connection"] == "close"  # the rest of the body is not read
        assert threads == []  # refused by counting delimiters, before the parser saw a part
        body, headers = _form(25)
        unclosed = body[: -len(b"--b--\r\n")]  # 25 delimiters: the count lets it through
        response = client.post("/v1/sentiment/upload", content=unclosed, headers=headers)
        assert response.status_code == 400 and "more than 24 parts" in response.text
        assert len(threads) == 25  # the parser's own check stopped it at part 25
        assert loop_thread not in threads  # parsed in a worker thread
        body, headers = _form(1, field_bytes=101)
        response = client.post("/v1/sentiment/upload", content=body, headers=headers)
        assert response.status_code == 413 and "100 bytes" in response.text
        body, headers = _form(3, field_bytes=5)
        ok = client.post("/v1/sentiment/upload", content=body, headers=headers)
        assert ok.status_code == 200, ok.text
        assert len(ok.json()["results"]) == 3


async def _thread_id() -> int:
    return threading.get_ident()


def test_too_many_pixels_in_one_request_is_413_before_decoding(
    make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client(max_request_pixels=3000, max_inflight_pixels=3000) as client:
        decodes = _count(monkeypatch, Preprocessor, "prepare")
        body = {"model": "vision", "items": [{"image": GOOD}] * 2}  # 2 x 48x40 = 3840 pixels
        response = client.post("/v1/classify", json=body)
        assert response.status_code == 413 and "3840 pixels" in response.text
        assert decodes == []


@pytest.mark.anyio
async def test_a_full_budget_waits_then_sheds_with_429() -> None:
    from service.errors import OverloadedError
    from service.events import NullObserver

    budget = admission.Budget("bytes", 100, NullObserver())
    async with budget.hold(80, 0.1):
        started = time.monotonic()
        with pytest.raises(OverloadedError):
            async with budget.hold(30, 0.1):
                pass
        assert 0.09 < time.monotonic() - started < 1.0
        async with budget.hold(20, 0.0):  # what fits goes in at once
            assert budget.used == 100
    assert budget.used == 0


@pytest.fixture
def broken_repo(model_repo: Path, tmp_path: Path) -> Path:
    """The tiny repository with ``fusion`` broken (its ONNX file no longer matches its sha256)."""
    root = tmp_path / "models"
    shutil.copytree(model_repo, root)
    (root / "fusion" / "1" / "model.onnx").write_bytes(b"not onnx")
    return root


@pytest.mark.parametrize("require_all", [False, True])
def test_ready_reports_each_model_and_no_server_paths(
    broken_repo: Path, tmp_path: Path, require_all: bool
) -> None:
    settings = Settings(model_dir=broken_repo.resolve(), providers="cpu",
                        require_all_models=require_all,
                        gallery_data_dir=tmp_path / "gallery")  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        client.portal.call(app.state.engine.wait_loaded, 60)
        response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == (503 if require_all else 200)
    assert body["ready"] is (not require_all)
    assert body["models"]["vision"]["state"] == "ready"
    failed = body["models"]["fusion"]
    assert failed["state"] == "failed" and "sha256" in failed["reason"].lower()
    assert str(tmp_path) not in response.text and "/tmp" not in response.text


def test_bytes_in_flight_are_capped_before_the_body_is_read(
    make_client: Any, slow_runs: list[int]
) -> None:
    body = json.dumps(ONE).encode() + b" " * 1000  # two do not fit in the budget below
    limits = {"max_body_bytes": 2 * len(body) - 1, "max_inflight_bytes": 2 * len(body) - 1,
              "admission_wait_ms": 100, **SERIAL}  # fmt: skip
    headers = {"content-type": "application/json"}
    with make_client(**limits) as client, ThreadPoolExecutor(1) as pool:
        slow_runs.clear()  # the warm-up's runs
        first = pool.submit(client.post, "/v1/classify", content=body, headers=headers)
        _until_running(slow_runs)  # its body holds the budget while it runs
        started = time.monotonic()
        second = client.post("/v1/classify", content=body, headers=headers)
        assert 0.09 < time.monotonic() - started < 0.35  # waited for room, then gave up
        assert second.status_code == 429 and second.headers["connection"] == "close"
        assert "bytes in flight" in second.json()["error"]["message"]
        assert first.result().status_code == 200
        assert first.result().headers["server-timing"].startswith("app;dur=")
        assert _metric(client, "mms_requests_shed_total", reason="bytes") == 1
        assert _metric(client, "mms_admission_wait_seconds_count", budget="bytes") >= 1
        assert client.post("/v1/classify", content=body, headers=headers).status_code == 200


def test_the_load_limits_must_fit_the_largest_allowed_request() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="max_form_parts"):
        Settings(max_items=250)  # 256 parts cannot carry 250 files and their fields
    with pytest.raises(ValidationError, match="limit_concurrency"):
        Settings(max_connections=2000)
    with pytest.raises(ValidationError, match="max_inflight_bytes"):
        Settings(max_body_bytes=300 * 2**20)
    assert Settings(max_items=250, max_form_parts=266).max_form_parts == 266
