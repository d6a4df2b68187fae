"""Admission control: what a request must get before the service spends work on it.

Three limits, each checked before the work it protects (README "Under load"):

- :class:`QueueAdmission`, one per model: items admitted and not answered yet (decoding, queued
  or running), at most ``max_queue_size``. A request that does not fit is a 429 at once, before
  its images are decoded, with ``Retry-After-Ms`` estimated from the model's recent throughput.
  Waiting here would only move the queue into the decode stage.
- :class:`Budget` ``bytes``: request bodies held at once (``max_inflight_bytes``), taken from the
  declared ``Content-Length`` before the body is read, so a waiting request costs a socket, not
  memory. ``pixels``: decoded pixels of the images being decoded at once (``max_inflight_pixels``),
  read from the image headers before decoding. A request that does not fit waits up to
  ``admission_wait_ms`` (the budget frees as soon as any request ends), then 429.
- the per-request pixel cap ``max_request_pixels`` (413: the request can never fit).

The byte budget is taken by the HTTP route; the pixel budget by :meth:`ServedModel.prepare`
through :func:`decoding`, which finds the request's budgets in a context variable the route
sets (:func:`request_scope`), as ``events.track_models`` does, so the tasks in between pass
nothing along. Outside a request scope (tests, warm-up) nothing is budgeted.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from PIL import Image

from service.errors import OverloadedError, PayloadTooLargeError
from service.events import Observer

_THROUGHPUT_WINDOW_S = 5.0
_RETRY_MS_RANGE = (10, 10_000)


class Budget:
    """A capacity (bytes, pixels) that concurrent requests hold parts of; event loop only.

    Args:
        name: the budget's name in metrics and messages (``bytes``, ``pixels``).
        capacity: the most that may be held at once.
        observer: told about every wait and every shed.
    """

    def __init__(self, name: str, capacity: int, observer: Observer) -> None:
        self.name = name
        self.capacity = capacity
        self.used = 0
        self._observer = observer
        self._waiters: list[asyncio.Future[None]] = []

    @asynccontextmanager
    async def hold(self, amount: int, wait_s: float) -> AsyncIterator[None]:
        """Hold ``amount`` inside the block; wait up to ``wait_s`` for it to fit, else 429."""
        amount = min(amount, self.capacity)  # a larger request was refused before (413)
        if self.used + amount > self.capacity:
            await self._wait(amount, wait_s)
        self.used += amount
        try:
            yield
        finally:
            self.used -= amount
            for waiter in self._waiters:  # every waiter re-checks; the ones that fit go on
                if not waiter.done():
                    waiter.set_result(None)

    async def _wait(self, amount: int, wait_s: float) -> None:
        started = time.monotonic()
        deadline = started + wait_s
        try:
            while self.used + amount > self.capacity:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._observer.request_shed(self.name)
                    raise OverloadedError(
                        f"the service holds its limit of {self.capacity} {self.name} in flight; "
                        "retry after a moment",
                        retry_after_ms=_RETRY_MS_RANGE[0] * 10,
                    )
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await asyncio.wait_for(waiter, remaining)
                except asyncio.TimeoutError:
                    pass
                finally:
                    self._waiters.remove(waiter)
        finally:
            self._observer.admission_waited(self.name, time.monotonic() - started)


class QueueAdmission:
    """Items of one model admitted and not answered yet, at most ``capacity`` (else 429 at once).

    Args:
        model: the model's name.
        capacity: ``max_queue_size``.
        observer: told about every shed.
        retry_after_s: the estimate before any item was answered (``retry_after_s``).
    """

    def __init__(
        self, model: str, capacity: int, observer: Observer, retry_after_s: int = 1
    ) -> None:
        self.model = model
        self.capacity = capacity
        self.retry_after_s = retry_after_s
        self.admitted = 0
        self._observer = observer
        self._done: deque[tuple[float, int]] = deque()  # (when, items) answered recently

    def full(self, arriving: int = 0) -> bool:
        """Not one more item fits, counting ``arriving`` items expected any moment."""
        return self.admitted + arriving >= self.capacity

    def overloaded(self, items: int = 1) -> OverloadedError:
        """The 429 for ``items`` that do not fit (counted as a shed)."""
        self._observer.request_shed("queue_full")
        return OverloadedError(
            f"the queue of model {self.model!r} is full ({self.capacity} items); "
            "retry after a moment",
            retry_after_ms=self.retry_after_ms(items),
            model=self.model,
        )

    @contextmanager
    def admit(self, items: int) -> Iterator[None]:
        """Count ``items`` as admitted inside the block; 429 when they do not fit."""
        if self.admitted + items > self.capacity:
            raise self.overloaded(items)
        _arrived()
        self.admitted += items
        try:
            yield
        finally:
            self.admitted -= items
            self._done.append((time.monotonic(), items))

    def retry_after_ms(self, items: int) -> int:
        """How long the model needs to answer what it holds now, at the rate it answered items
        in the last few seconds: a client that waits that long finds room, even when every
        refused client retries (waiting only for the first free slot, they would all come back
        at once)."""
        now = time.monotonic()
        while self._done and self._done[0][0] < now - _THROUGHPUT_WINDOW_S:
            self._done.popleft()
        answered = sum(n for _, n in self._done)
        if not answered:
            return self.retry_after_s * 1000
        span = max(now - self._done[0][0], 0.1)
        seconds = (self.admitted + items) / (answered / span)
        return int(min(max(seconds * 1000, _RETRY_MS_RANGE[0]), _RETRY_MS_RANGE[1]))


@dataclass
class Budgets:
    """The process-wide budgets (one set per app) and the limits that go with them."""

    bytes: Budget
    pixels: Budget
    max_request_pixels: int
    wait_s: float
    arriving: int = 0  # requests past the early queue check, not admitted to a queue yet

    @classmethod
    def create(
        cls, *, max_bytes: int, max_pixels: int, max_request_pixels: int, wait_s: float,
        observer: Observer,
    ) -> Budgets:  # fmt: skip
        """Fresh, empty budgets."""
        return cls(
            Budget("bytes", max_bytes, observer), Budget("pixels", max_pixels, observer),
            max_request_pixels, wait_s,
        )  # fmt: skip


@dataclass
class _Scope:
    budgets: Budgets
    pixels: int = 0  # decoded pixels this request asked for so far
    arriving: bool = False  # counted in budgets.arriving


_scope: ContextVar[_Scope | None] = ContextVar("mms_admission_scope", default=None)


@contextmanager
def request_scope(budgets: Budgets, *, arriving: bool = False) -> Iterator[None]:
    """Let the code of one request (tasks, threads) find ``budgets`` (see :func:`decoding`).

    ``arriving``: the request passed the early queue check; until a model admits it, it counts
    as one item on its way (``Budgets.arriving``), so that the early check of the requests after
    it refuses what the queue will not take once their bodies are read.
    """
    scope = _Scope(budgets, arriving=arriving)
    budgets.arriving += arriving
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)
        budgets.arriving -= scope.arriving


def _arrived() -> None:
    """The current request reached a model's queue: it no longer counts as arriving."""
    scope = _scope.get()
    if scope is not None and scope.arriving:
        scope.arriving = False
        scope.budgets.arriving -= 1


#: Image bytes whose headers are read on the event loop: a header read is tens of microseconds,
#: less than the thread hop it would need; past this size a JPEG's markers before its frame
#: header could take long enough to stall other requests, so it goes to a worker thread.
INLINE_PEEK_BYTES = 2 * 1024 * 1024


@asynccontextmanager
async def decoding(images: Sequence[bytes | None]) -> AsyncIterator[None]:
    """Hold the pixels ``images`` decode to while they are decoded (413 over the request's cap)."""
    scope = _scope.get()
    present = [image for image in images if image is not None]
    if scope is None or not present:
        yield
        return
    if sum(map(len, present)) <= INLINE_PEEK_BYTES:
        pixels = sum(map(image_pixels, present))
    else:
        pixels = await asyncio.to_thread(lambda: sum(map(image_pixels, present)))
    scope.pixels += pixels
    limit = scope.budgets.max_request_pixels
    if scope.pixels > limit:
        raise PayloadTooLargeError(
            f"the images of this request decode to {scope.pixels} pixels, more than the "
            f"{limit} allowed per request; send fewer or smaller images",
            limit=limit,
        )
    async with scope.budgets.pixels.hold(pixels, scope.budgets.wait_s):
        yield


def image_pixels(data: bytes) -> int:
    """Width times height from the image's header (no decode); 0 when it is not readable, so
    that the decoder reports the real problem."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            width, height = picture.size
    except Exception:  # any unreadable header: the decode that follows raises the proper 4xx
        return 0
    return int(width) * int(height)
