"""Prometheus metrics: what the service did, and where the time went.

Every app owns one :class:`ServiceMetrics` (the :class:`service.events.Observer` the app factory
puts on ``app.state.observer``) with its own ``CollectorRegistry``: no global state, since tests
build many apps in one process. The batcher reports queue wait, batch size and ONNX
Runtime time; the HTTP middleware reports requests and in-flight work; the registry reports each
model's state and execution provider. ``GET /metrics`` renders the Prometheus text format and is
open without an API key, like the health probes.

Label values are bounded by construction: ``endpoint`` is the route template (``/v1/classify``,
``/v2/models/{name}/infer``), never the raw path, and ``model`` is a name the registry knows or
``""`` (see ``events.track_models``); so a client cannot grow the series count by sending
made-up paths or model names.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from service.errors import ModelNotFoundError

__all__ = ["ServiceMetrics", "router"]

# Seconds. Dense below 100 ms, where CPU inference and the batcher's delay live.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
    0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
QUEUE_BUCKETS = (0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServiceMetrics:
    """The metric families of one app, on a private registry.

    Args:
        registry: where to register; a fresh ``CollectorRegistry`` when omitted.
        namespace: prefix of every metric name.
    """

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "mms") -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.requests = Counter(
            "requests", "HTTP requests answered, by route template, model and status code.",
            ["endpoint", "model", "status"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "request_duration_seconds", "Time from request received to response sent.",
            ["endpoint", "model"], namespace=namespace, registry=reg, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        # Not labelled by endpoint: the route is only known once routing ran, after the start.
        self.in_flight = Gauge(
            "requests_in_flight", "HTTP requests being handled now.",
            namespace=namespace, registry=reg,
        )  # fmt: skip
        self.queue_seconds = Histogram(
            "queue_wait_seconds", "Time an item waited in a model's batch queue before its run.",
            ["model"], namespace=namespace, registry=reg, buckets=QUEUE_BUCKETS,
        )  # fmt: skip
        self.queue_depth_items = Gauge(
            "queue_depth", "Items waiting in a model's batch queue.",
            ["model"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.batch_size = Histogram(
            "batch_size", "Items per ONNX Runtime call (the batches the dynamic batcher formed).",
            ["model"], namespace=namespace, registry=reg, buckets=BATCH_BUCKETS,
        )  # fmt: skip
        self.inference_seconds = Histogram(
            "inference_seconds", "Duration of one ONNX Runtime session.run call (one batch).",
            ["model"], namespace=namespace, registry=reg, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.batch_failures = Counter(
            "batch_failures", "Batches that failed; every item of such a batch got an error.",
            ["model", "error_type"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.rejections = Counter(
            "items_rejected", "Items that never ran: queue_full (429), timeout (504), abandoned.",
            ["model", "reason"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.model_info = Gauge(
            "model_info", "1 for each model's current version, state and execution providers.",
            ["model", "version", "state", "provider"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.model_ready = Gauge(
            "model_ready", "1 when the model serves requests, else 0.",
            ["model"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.shed = Counter(
            "requests_shed", "Requests turned away before their work: queue_full, bytes, pixels.",
            ["reason"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.admission_wait = Histogram(
            "admission_wait_seconds", "Time a request waited for room in a budget (bytes, pixels).",
            ["budget"], namespace=namespace, registry=reg, buckets=LATENCY_BUCKETS,
        )  # fmt: skip
        self.abandoned = Counter(
            "requests_abandoned", "Requests whose work was cancelled: disconnect or deadline.",
            ["reason"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.connections_closed = Counter(
            "connections_closed", "Connections the server closed: header_timeout, body_timeout, "
            "max_connections, shutdown.",
            ["reason"], namespace=namespace, registry=reg,
        )  # fmt: skip
        self.loop_lag_seconds = Histogram(
            "event_loop_lag_seconds", "How much later than due the event loop ran a timer "
            "(sampled every 100 ms): a starved loop delays every request's head and every 429.",
            namespace=namespace, registry=reg, buckets=QUEUE_BUCKETS,
        )  # fmt: skip
        self._info_labels: dict[str, tuple[str, str, str, str]] = {}

    # -- HTTP (called by the middleware) -----------------------------------------------------
    def request_started(self) -> None:
        """Count one more request in flight."""
        self.in_flight.inc()

    def request_finished(
        self, endpoint: str, model: str | None, status: int, seconds: float
    ) -> None:
        """Record one answered request and take it out of the in-flight gauge."""
        self.in_flight.dec()
        self.requests.labels(endpoint, model or "", str(status)).inc()
        self.request_seconds.labels(endpoint, model or "").observe(seconds)

    # -- batcher ---------------------------------------------------------------------------
    def batch_executed(
        self, model: str, size: int, queue_seconds: Sequence[float], infer_seconds: float
    ) -> None:
        """Record one ONNX Runtime call: its batch size, run time and each item's queue wait."""
        self.batch_size.labels(model).observe(size)
        self.inference_seconds.labels(model).observe(infer_seconds)
        queue = self.queue_seconds.labels(model)
        for wait in queue_seconds:
            queue.observe(wait)

    def batch_failed(self, model: str, size: int, error_type: str) -> None:
        """Count one failed batch (``size`` is already visible in the failed requests)."""
        self.batch_failures.labels(model, error_type).inc()

    def item_rejected(self, model: str, reason: str) -> None:
        """Count one item turned away: ``queue_full`` or ``timeout``."""
        self.rejections.labels(model, reason).inc()

    def request_shed(self, reason: str) -> None:
        """Count one request turned away before its work."""
        self.shed.labels(reason).inc()

    def admission_waited(self, budget: str, seconds: float) -> None:
        """Record one wait for room in a budget."""
        self.admission_wait.labels(budget).observe(seconds)

    def request_abandoned(self, reason: str) -> None:
        """Count one request whose work was cancelled (``disconnect``, ``deadline``)."""
        self.abandoned.labels(reason).inc()

    def connection_closed(self, reason: str) -> None:
        """Count one connection the server closed."""
        self.connections_closed.labels(reason).inc()

    def loop_lag(self, seconds: float) -> None:
        """Record one sample of the event loop's lag."""
        self.loop_lag_seconds.observe(seconds)

    def queue_depth(self, model: str, depth: int) -> None:
        """Publish how many items wait in the model's queue."""
        self.queue_depth_items.labels(model).set(depth)

    # -- registry --------------------------------------------------------------------------
    def model_state(self, model: str, version: int, state: str, providers: Sequence[str]) -> None:
        """Publish a model's state (``loading``, ``ready``, ``failed``) and the providers in use.

        One ``model_info`` series per model: the previous one is removed when anything changes.
        """
        labels = (model, str(version), state, ",".join(providers))
        old = self._info_labels.get(model)
        if old is not None and old != labels:
            self.model_info.remove(*old)
        self._info_labels[model] = labels
        self.model_info.labels(*labels).set(1)
        self.model_ready.labels(model).set(1 if state == "ready" else 0)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The registry as (body, content type), in the format the ``Accept`` header asks for.

        Prometheus text format 0.0.4 by default; OpenMetrics when the scraper asks for it.
        """
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


router = APIRouter(tags=["observability"])


@router.get("/metrics", response_class=Response)
def get_metrics(request: Request) -> Response:
    """Prometheus metrics of this process (text exposition format)."""
    observer = getattr(request.app.state, "observer", None)
    if not isinstance(observer, ServiceMetrics):
        raise ModelNotFoundError("metrics are not enabled in this app")
    body, content_type = observer.render(request.headers.get("accept", ""))
    return Response(content=body, headers={"Content-Type": content_type})
