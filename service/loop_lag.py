"""How late the event loop runs its callbacks: the one figure that says the loop is starved.

Every request's head, every 429 and every health probe waits for the event loop. When decoding,
ONNX Runtime and parsing threads hold the CPU (or the GIL), a callback that should run now runs
later, and nothing else in ``/metrics`` shows it: the server's own request time starts only
when the app sees the request. So a task sleeps ``every_s`` in a loop and reports how much
longer than that the sleep took (``mms_event_loop_lag_seconds``). The cost is one timer
callback per interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["INTERVAL_S", "watch_loop_lag"]

INTERVAL_S = 0.1


async def watch_loop_lag(observe: Callable[[float], None], every_s: float = INTERVAL_S) -> None:
    """Report the loop's lag every ``every_s`` until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(every_s)
        observe(max(0.0, loop.time() - started - every_s))
