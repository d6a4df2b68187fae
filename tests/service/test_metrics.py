"""The Prometheus observer: series it records, one registry per app, the /metrics route."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.errors import ModelNotFoundError
from service.events import NullObserver, Observer
from service.metrics import ServiceMetrics, router


def _samples(metrics: ServiceMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_implements_every_observer_method_with_the_same_signature() -> None:
    names = [
        n for n, _ in inspect.getmembers(Observer, inspect.isfunction) if not n.startswith("_")
    ]
    assert names, "the Observer protocol has no methods?"
    for name in names:
        expected = inspect.signature(getattr(NullObserver, name))
        assert inspect.signature(getattr(ServiceMetrics, name)) == expected, name


def test_requests_latency_and_in_flight() -> None:
    metrics = ServiceMetrics()
    metrics.request_started()
    metrics.request_started()
    assert _samples(metrics)[("mms_requests_in_flight", ())] == 2
    metrics.request_finished("/v1/classify", "vision", 200, 0.012)
    metrics.request_finished("/v1/classify", None, 404, 0.001)
    samples = _samples(metrics)
    ok = (("endpoint", "/v1/classify"), ("model", "vision"), ("status", "200"))
    missing = (("endpoint", "/v1/classify"), ("model", ""), ("status", "404"))
    assert samples[("mms_requests_total", ok)] == 1
    assert samples[("mms_requests_total", missing)] == 1
    assert samples[("mms_requests_in_flight", ())] == 0
    count = (
        "mms_request_duration_seconds_count",
        (("endpoint", "/v1/classify"), ("model", "vision")),
    )
    assert samples[count] == 1


def test_batches_queue_waits_failures_and_rejections() -> None:
    metrics = ServiceMetrics()
    metrics.batch_executed("vision", 3, [0.001, 0.002, 0.004], 0.020)
    metrics.batch_executed("vision", 1, [0.0], 0.008)
    metrics.batch_failed("vision", 2, "inference_error")
    metrics.item_rejected("vision", "queue_full")
    metrics.queue_depth("vision", 7)
    samples = _samples(metrics)
    model = (("model", "vision"),)
    assert samples[("mms_batch_size_count", model)] == 2
    assert samples[("mms_batch_size_sum", model)] == 4
    assert samples[("mms_queue_wait_seconds_count", model)] == 4
    assert abs(samples[("mms_inference_seconds_sum", model)] - 0.028) < 1e-9
    assert samples[("mms_batch_size_bucket", (("le", "2.0"), *model))] == 1  # only the size-1 batch
    failed = (("error_type", "inference_error"), ("model", "vision"))
    assert samples[("mms_batch_failures_total", failed)] == 1
    assert (
        samples[("mms_items_rejected_total", (("model", "vision"), ("reason", "queue_full")))] == 1
    )
    assert samples[("mms_queue_depth", model)] == 7


def test_model_state_keeps_one_info_series_per_model() -> None:
    metrics = ServiceMetrics()
    metrics.model_state("vision", 1, "loading", [])
    metrics.model_state("vision", 1, "ready", ["CPUExecutionProvider"])
    samples = _samples(metrics)
    info = [key for key in samples if key[0] == "mms_model_info"]
    assert info == [
        (
            "mms_model_info",
            (("model", "vision"), ("provider", "CPUExecutionProvider"), ("state", "ready"),
             ("version", "1")),
        )
    ]  # fmt: skip
    assert samples[("mms_model_ready", (("model", "vision"),))] == 1
    metrics.model_state("vision", 1, "failed", [])
    assert _samples(metrics)[("mms_model_ready", (("model", "vision"),))] == 0


def test_each_instance_has_its_own_registry() -> None:
    first, second = ServiceMetrics(), ServiceMetrics()
    first.item_rejected("vision", "timeout")
    assert ("mms_items_rejected_total", (("model", "vision"), ("reason", "timeout"))) in _samples(
        first
    )
    assert not any(key[0] == "mms_items_rejected_total" for key in _samples(second))


def _app(observer: object) -> FastAPI:
    app = FastAPI()
    app.state.observer = observer
    app.include_router(router)
    return app


def test_route_serves_the_text_format_and_openmetrics_on_request() -> None:
    metrics = ServiceMetrics()
    metrics.batch_executed("vision", 2, [0.001, 0.001], 0.01)
    with TestClient(_app(metrics)) as client:
        text = client.get("/metrics")
        assert text.status_code == 200
        assert text.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert 'mms_batch_size_sum{model="vision"} 2.0' in text.text
        om = client.get("/metrics", headers={"accept": "application/openmetrics-text"})
        assert om.headers["content-type"].startswith("application/openmetrics-text")
        assert om.text.rstrip().endswith("# EOF")


def test_route_raises_not_found_when_the_app_has_no_metrics() -> None:
    with TestClient(_app(NullObserver())) as client, pytest.raises(ModelNotFoundError):
        client.get("/metrics")


def test_the_app_reports_models_batches_and_requests(client: TestClient) -> None:
    body = {"inputs": [{"name": "image", "shape": [2, 3, 32, 32], "datatype": "FP32",
                        "data": [0.0] * (2 * 3 * 32 * 32)}]}  # fmt: skip
    assert client.post("/v2/models/vision/infer", json=body).status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    ready = {s.labels["model"]: s.value for s in families["mms_model_ready"].samples}
    assert ready == {"vision": 1.0, "text": 1.0, "fusion": 1.0}
    info = [s.labels for s in families["mms_model_info"].samples if s.labels["model"] == "vision"]
    assert info == [{"model": "vision", "version": "1", "state": "ready",
                     "provider": "CPUExecutionProvider"}]  # fmt: skip
    sizes = [s for s in families["mms_batch_size"].samples
             if s.name.endswith("_sum") and s.labels["model"] == "vision"]  # fmt: skip
    assert sizes and sizes[0].value >= 2  # the two rows ran (in one or two batches)
    served = [s for s in families["mms_requests"].samples
              if s.name == "mms_requests_total" and s.labels["model"] == "vision"]  # fmt: skip
    assert any(s.labels["status"] == "200" for s in served)
    # the route template, not the raw path: bounded label values
    assert {s.labels["endpoint"] for s in served} == {"/v2/models/{name}/infer"}


def test_request_metrics_label_only_models_the_registry_knows(client: TestClient) -> None:
    client.post("/v1/classify", json={"model": "made-up", "items": [{"text": "a"}]})
    client.post("/v1/embed", json={"inputs": [{"type": "text", "text": "a cat"}]})
    families = {f.name: f for f in text_string_to_metric_families(client.get("/metrics").text)}
    labels = {(s.labels["endpoint"], s.labels["model"]) for s in families["mms_requests"].samples
              if s.name == "mms_requests_total"}  # fmt: skip
    assert ("/v1/classify", "") in labels and ("/v1/embed", "text") in labels
    assert not any(model == "made-up" for _, model in labels)
