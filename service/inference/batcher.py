"""Dynamic batching: collect items from any number of requests, run them as one call, split back.

One :class:`Batcher` per model. Requests put ``(item, future)`` pairs into a bounded queue; a
single worker task takes up to ``max_batch_size`` items, runs ``run_batch`` once in a thread (off
the event loop) and resolves each future with its own result.

Batching is greedy (continuous): while one batch runs, new items queue up and form the next
batch, so batches grow with the load by themselves. The worker waits (at most ``max_delay_s``
after the first item) for more only when the queue is empty and some request is still preparing
its items (decoding inside ``preparing()``); a lone request therefore runs at once.

Every wait has a timeout, a full queue is rejected at once (429), and a failed batch fails each
of its futures, so no request can hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, TypeVar

from service.errors import (
    InferenceError,
    InferenceTimeoutError,
    NotReadyError,
    OverloadedError,
    ServiceError,
)
from service.events import NullObserver, Observer

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class BatcherConfig:
    """Limits of one batcher (see ``Settings`` for the meaning of each; no defaults of its own)."""

    max_batch_size: int
    max_delay_s: float
    max_queue_size: int
    timeout_s: float
    retry_after_s: int
    concurrency: int  # batches running at the same time

    @classmethod
    def from_settings(
        cls, settings: Settings, max_batch_size: int, *, one_thread: bool = False
    ) -> BatcherConfig:
        """The batcher of one model: ``max_batch_size`` is that model's limit (autotuned or
        ``settings.max_batch_size``), ``one_thread`` whether its session runs on one intra-op
        thread on the CPU (it decides the default concurrency); the rest comes from
        ``settings``."""
        return cls(
            max_batch_size=max_batch_size,
            max_delay_s=settings.max_delay_ms / 1000.0,
            max_queue_size=settings.max_queue_size,
            timeout_s=settings.request_timeout_s,
            retry_after_s=settings.retry_after_s,
            concurrency=settings.batch_concurrency_for(one_thread=one_thread),
        )


@dataclass
class BatcherStats:
    """Counters since start; ``sizes`` maps batch size to how many batches had it."""

    batches: int = 0
    items: int = 0
    failed_batches: int = 0
    rejected: int = 0
    timeouts: int = 0
    largest_batch: int = 0
    sizes: Counter[int] = field(default_factory=Counter)


@dataclass
class _Pending(Generic[ItemT, ResultT]):
    item: ItemT
    future: asyncio.Future[ResultT]
    enqueued: float


class Batcher(Generic[ItemT, ResultT]):
    """Batches items for ``run_batch``, which must return one result per item, in order."""

    def __init__(
        self,
        name: str,
        run_batch: Callable[[list[ItemT]], Sequence[ResultT]],
        config: BatcherConfig,
        *,
        executor: Executor | None = None,
        observer: Observer | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.stats = BatcherStats()
        self._run_batch = run_batch
        self._executor = executor
        self._observer: Observer = observer or NullObserver()
        self._preparing = 0  # requests inside preparing(): their items are due soon
        self._queue: asyncio.Queue[_Pending[ItemT, ResultT]] = asyncio.Queue(config.max_queue_size)
        self._task: asyncio.Task[None] | None = None
        self._batches: list[list[_Pending[ItemT, ResultT]]] = []  # taken, not answered yet
        self._closed = False

    @property
    def queue_depth(self) -> int:
        """Items waiting for a batch."""
        return self._queue.qsize()

    @property
    def pending(self) -> int:
        """Items accepted and not answered yet (queued, being collected or running)."""
        return self._queue.qsize() + sum(len(batch) for batch in self._batches)

    @property
    def in_flight(self) -> int:
        """Requests preparing items plus items not answered yet: zero once drained."""
        return self._preparing + self.pending

    @contextmanager
    def preparing(self) -> Iterator[None]:
        """Mark a request as preparing items for this batcher (decoding, on the event loop).

        While some request is inside, a batch that is not full may wait up to ``max_delay_s``
        for its items; when none is, a lone item runs at once.
        """
        self._preparing += 1
        try:
            yield
        finally:
            self._preparing -= 1

    def start(self) -> None:
        """Start the worker task (call from the running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._work(), name=self.name)

    async def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Refuse new items, let queued ones run (up to ``drain_timeout_s``), then stop."""
        self._closed = True
        deadline = time.monotonic() + drain_timeout_s
        while (self._batches or not self._queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        leftovers = [p for batch in self._batches for p in batch]
        leftovers += [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        for pending in leftovers:
            _fail(pending.future, NotReadyError(f"model {self.name!r} is shutting down"))
        self._batches = []

    async def submit(self, item: ItemT) -> ResultT:
        """Run one item in the next batch and return its result."""
        return (await self.submit_many([item]))[0]

    async def submit_many(self, items: Sequence[ItemT]) -> list[ResultT]:
        """Queue all ``items`` (or none: 429 when they do not fit), await every result."""
        futures = self._enqueue(items)
        try:
            # asyncio.wait, not wait_for(gather): a gather cancelled with its request (deadline,
            # disconnect) would log "exception was never retrieved".
            _, pending = await asyncio.wait(
                futures, timeout=self.config.timeout_s, return_when=asyncio.FIRST_EXCEPTION
            )
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]  # checked just above
            if pending:
                raise asyncio.TimeoutError
            return [f.result() for f in futures]
        except asyncio.TimeoutError:
            self.stats.timeouts += 1
            self._observer.item_rejected(self.name, "timeout")
            raise InferenceTimeoutError(
                f"model {self.name!r} did not answer within {self.config.timeout_s:g} s; "
                "the service is overloaded, retry later or send fewer items",
                model=self.name,
            ) from None
        finally:
            for future in futures:
                future.cancel()  # no-op when done; skips queued items nobody waits for

    def _enqueue(self, items: Sequence[ItemT]) -> list[asyncio.Future[ResultT]]:
        if self._closed or self._task is None:
            raise NotReadyError(f"model {self.name!r} is not accepting requests", model=self.name)
        free = self._queue.maxsize - self._queue.qsize()
        if len(items) > free:
            self.stats.rejected += len(items)
            self._observer.item_rejected(self.name, "queue_full")
            raise OverloadedError(
                f"the queue of model {self.name!r} is full ({self._queue.maxsize} items); "
                "retry after a moment",
                retry_after_s=self.config.retry_after_s,
                model=self.name,
            )
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        futures: list[asyncio.Future[ResultT]] = []
        for item in items:
            future: asyncio.Future[ResultT] = loop.create_future()
            self._queue.put_nowait(_Pending(item, future, now))
            futures.append(future)
        self._observer.queue_depth(self.name, self._queue.qsize())
        return futures

    async def _work(self) -> None:
        """Collect a batch whenever a slot is free; up to ``concurrency`` batches run at once."""
        slots = asyncio.Semaphore(self.config.concurrency)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await slots.acquire()
                batch = await self._collect()
                task = asyncio.get_running_loop().create_task(self._finish(batch, slots))
                running.add(task)
                task.add_done_callback(running.discard)
        finally:  # stop(): running batches are cancelled, their items stay in self._batches
            for task in list(running):
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _finish(
        self, batch: list[_Pending[ItemT, ResultT]], slots: asyncio.Semaphore
    ) -> None:
        try:
            self._observer.queue_depth(self.name, self._queue.qsize())
            # Drop the items nobody waits for any more (deadline passed, client gone): shed
            # here, they never reach ONNX Runtime.
            live = [p for p in batch if not p.future.done()]
            for _ in range(len(batch) - len(live)):
                self._observer.item_rejected(self.name, "abandoned")
            if live:
                await self._execute(live)
            # by identity: comparing batches would compare their numpy items
            self._batches = [other for other in self._batches if other is not batch]
        finally:  # a cancelled batch stays in self._batches, so stop() fails its futures
            slots.release()

    async def _collect(self) -> list[_Pending[ItemT, ResultT]]:
        """Wait for one item, then take what is queued; wait for more only while some is due.

        Waiting stops when the batch is full, when ``max_delay_s`` has passed since the first
        item, or as soon as the queue is empty and no request is preparing items.
        """
        batch = [await self._queue.get()]
        self._batches.append(batch)  # taken items count as in flight
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.max_delay_s
        while len(batch) < self.config.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0 or not self._preparing:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _execute(self, batch: list[_Pending[ItemT, ResultT]]) -> None:
        started = time.monotonic()
        waits = [started - p.enqueued for p in batch]
        items = [p.item for p in batch]
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._run_batch, items)
            if len(results) != len(batch):
                raise InferenceError(
                    f"model {self.name!r} returned {len(results)} results for {len(batch)} items"
                )
        except Exception as exc:  # any failure fails the whole batch, never a hang
            self._fail_batch(batch, exc)
            return
        self._record(len(batch), waits, time.monotonic() - started)
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    def _fail_batch(self, batch: list[_Pending[ItemT, ResultT]], exc: Exception) -> None:
        if isinstance(exc, ServiceError):
            error: ServiceError = exc
        else:
            log.exception("batch of %d items failed on model %r", len(batch), self.name)
            error = InferenceError(
                f"inference failed on model {self.name!r} for a batch of {len(batch)} items; "
                "see the server log",
                model=self.name,
            )
        self.stats.failed_batches += 1
        self._observer.batch_failed(self.name, len(batch), error.type)
        for pending in batch:
            _fail(pending.future, error)

    def _record(self, size: int, waits: list[float], infer_s: float) -> None:
        self.stats.batches += 1
        self.stats.items += size
        self.stats.largest_batch = max(self.stats.largest_batch, size)
        self.stats.sizes[size] += 1
        self._observer.batch_executed(self.name, size, waits, infer_s)


def _fail(future: asyncio.Future[ResultT], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
