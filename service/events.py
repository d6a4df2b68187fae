"""The events the service emits for metrics, as a small interface with a no-op default.

``service/metrics.py`` implements :class:`Observer` with Prometheus collectors; the app factory
puts one instance on ``app.state.observer`` and hands it to the engine. Methods must be cheap and
must never raise (they are called on the event loop and from inference threads).

Which models a request used (the ``model`` label of request metrics) travels in a context
variable: the HTTP middleware opens :func:`track_models` around the request, and the registry's
lookup calls :func:`model_used` with every name it resolves. So no route, task or request state
has to pass the name along, and only names the registry knows become label values.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

_models_used: ContextVar[list[str] | None] = ContextVar("mms_models_used", default=None)


@contextmanager
def track_models() -> Iterator[list[str]]:
    """Collect the names of the models looked up inside the block (tasks and threads included)."""
    names: list[str] = []
    token = _models_used.set(names)
    try:
        yield names
    finally:
        _models_used.reset(token)


def model_used(name: str) -> None:
    """Record that the current request uses model ``name`` (no-op outside ``track_models``)."""
    names = _models_used.get()
    if names is not None and name not in names:
        names.append(name)


class Observer(Protocol):
    """Receives service events. All durations are in seconds."""

    def request_started(self) -> None:
        """An HTTP request entered the app (its route is not known before routing)."""

    def request_finished(
        self, endpoint: str, model: str | None, status: int, seconds: float
    ) -> None:
        """An HTTP request finished with ``status``; ``model`` when the route resolved one."""

    def batch_executed(
        self, model: str, size: int, queue_seconds: Sequence[float], infer_seconds: float
    ) -> None:
        """One ONNX Runtime call ran ``size`` items; ``queue_seconds`` has one wait per item."""

    def batch_failed(self, model: str, size: int, error_type: str) -> None:
        """One batch failed; each of its ``size`` items got an ``error_type`` error."""

    def item_rejected(self, model: str, reason: str) -> None:
        """An item never ran: ``queue_full`` (429), ``timeout`` (504) or ``abandoned`` (its
        request was cancelled, by a disconnect or its deadline, before the model ran it)."""

    def queue_depth(self, model: str, depth: int) -> None:
        """Items waiting in the model's queue, after each enqueue and each batch taken."""

    def model_state(self, model: str, version: int, state: str, providers: Sequence[str]) -> None:
        """A model changed state (``loading``, ``ready``, ``failed``); ``providers`` in use."""

    def request_shed(self, reason: str) -> None:
        """A request was turned away before its work: ``queue_full``, ``bytes``, ``pixels``."""

    def admission_waited(self, budget: str, seconds: float) -> None:
        """A request waited ``seconds`` for room in ``budget`` (``bytes``, ``pixels``)."""

    def request_abandoned(self, reason: str) -> None:
        """A request's work was cancelled: ``disconnect`` (client gone) or ``deadline`` (504)."""

    def connection_closed(self, reason: str) -> None:
        """The server closed a connection: ``header_timeout``, ``body_timeout``,
        ``max_connections`` or ``shutdown`` (an upload still streaming)."""

    def loop_lag(self, seconds: float) -> None:
        """The event loop ran a timer ``seconds`` later than due (``service.loop_lag``)."""


class NullObserver:
    """The default observer: does nothing."""

    def request_started(self) -> None:
        """Ignore."""

    def request_finished(
        self, endpoint: str, model: str | None, status: int, seconds: float
    ) -> None:
        """Ignore."""

    def batch_executed(
        self, model: str, size: int, queue_seconds: Sequence[float], infer_seconds: float
    ) -> None:
        """Ignore."""

    def batch_failed(self, model: str, size: int, error_type: str) -> None:
        """Ignore."""

    def item_rejected(self, model: str, reason: str) -> None:
        """Ignore."""

    def queue_depth(self, model: str, depth: int) -> None:
        """Ignore."""

    def model_state(self, model: str, version: int, state: str, providers: Sequence[str]) -> None:
        """Ignore."""

    def request_shed(self, reason: str) -> None:
        """Ignore."""

    def admission_waited(self, budget: str, seconds: float) -> None:
        """Ignore."""

    def request_abandoned(self, reason: str) -> None:
        """Ignore."""

    def connection_closed(self, reason: str) -> None:
        """Ignore."""

    def loop_lag(self, seconds: float) -> None:
        """Ignore."""
