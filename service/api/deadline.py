"""A request's lifetime: one end-to-end deadline, a body timeout, and cancellation on disconnect.

The deadline starts when the request arrives (``RequestContextMiddleware`` stamps
``scope["state"]["arrived"]``) and lasts ``request_timeout_s``, or less when the client sends
``X-Request-Timeout-Ms`` (it can only shorten it). It covers everything the service does for the
request: waiting for the byte budget, reading the body, decoding, the model queue and the run.
The work runs as a child task watched from the request's own task; whichever comes first wins:

- the work finishes: its response (or error) is returned;
- the deadline passes: the work is cancelled and the client gets 504 ``deadline_exceeded``;
- the client disconnects: the work is cancelled (nothing is sent; counted as status 499).

Cancelling the work cancels its batcher futures, and the batcher drops items whose future is
done before their batch runs, so nothing of an abandoned request reaches ONNX Runtime unless its
batch had already started. A body that takes longer than ``body_timeout_s`` is a 408 that closes
the connection (slow clients hold a socket, never the deadline of others).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from service.errors import (
    ClientDisconnectedError,
    DeadlineExceededError,
    MalformedRequestError,
    RequestTimeoutError,
)
from service.events import Observer

DEADLINE_HEADER = "x-request-timeout-ms"
ARRIVED = "arrived"  # key in scope["state"]: time.monotonic() when the request came in
BODY_READ = "body_read"  # key in scope["state"]: True once the whole body was read

T = TypeVar("T")


def deadline_of(request: Request, timeout_s: float) -> float:
    """The request's deadline (``time.monotonic()`` scale): its arrival plus its timeout.

    Raises:
        MalformedRequestError: ``X-Request-Timeout-Ms`` is not a positive whole number.
    """
    arrived = request.scope.get("state", {}).get(ARRIVED) or time.monotonic()
    raw = request.headers.get(DEADLINE_HEADER)
    if raw is not None:
        value = raw.strip()
        if not value.isdigit() or not 0 < int(value) <= 3_600_000:
            raise MalformedRequestError(
                f"{DEADLINE_HEADER} must be a whole number of milliseconds, 1 to 3600000"
            )
        timeout_s = min(timeout_s, int(value) / 1000.0)
    return float(arrived) + timeout_s


def body_read(request: Request) -> bool:
    """Whether :func:`read_body` read the whole body of ``request``."""
    return bool(request.scope.get("state", {}).get(BODY_READ))


def remaining(deadline: float) -> float:
    """Seconds left before ``deadline`` (0 when it passed)."""
    return max(0.0, deadline - time.monotonic())


async def read_body(
    request: Request, deadline: float, body_timeout_s: float, observer: Observer,
    sink: Callable[[bytes], Awaitable[None]] | None = None,
) -> None:  # fmt: skip
    """Read the whole body within the body timeout and the deadline (408 / 504 / disconnect):
    into ``request.body()``, or chunk by chunk into ``sink`` as it arrives (which may stop it
    early by raising)."""
    body_limit = body_timeout_s
    left = remaining(deadline)
    try:
        async with asyncio.timeout(min(body_limit, left)):
            if sink is None:
                await request.body()
            else:
                async for chunk in request.stream():
                    await sink(chunk)
        request.scope.setdefault("state", {})[BODY_READ] = True
    except TimeoutError:
        if body_limit <= left:
            observer.connection_closed("body_timeout")
            raise RequestTimeoutError(
                f"the request body did not arrive within {body_limit:g} s; send it faster"
            ) from None
        raise _expired(observer) from None
    except ClientDisconnect:
        observer.request_abandoned("disconnect")
        raise ClientDisconnectedError("the client disconnected while sending its body") from None


async def run_guarded(
    work: Awaitable[T], receive: Receive, deadline: float, observer: Observer
) -> T:
    """``work``'s result, unless the deadline passes or the client disconnects first (then the
    work is cancelled and :class:`DeadlineExceededError` / :class:`ClientDisconnectedError`)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, gone}, timeout=remaining(deadline),
                           return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    finally:  # also when this request's own task is cancelled (server shutdown)
        for pending in (task, gone):
            pending.cancel()
        await asyncio.gather(task, gone, return_exceptions=True)
    if task.done() and not task.cancelled():
        return task.result()
    if gone.done() and not gone.cancelled():
        observer.request_abandoned("disconnect")
        raise ClientDisconnectedError("the client disconnected before its answer")
    raise _expired(observer)


async def _disconnected(receive: Receive) -> None:
    """Return once the client is gone (the body was read before; later messages are ignored)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _expired(observer: Observer) -> DeadlineExceededError:
    observer.request_abandoned("deadline")
    return DeadlineExceededError(
        "the request did not finish within its deadline (MMS_REQUEST_TIMEOUT_S, or the "
        f"client's {DEADLINE_HEADER}); its work was cancelled. Retry later or send fewer items"
    )
