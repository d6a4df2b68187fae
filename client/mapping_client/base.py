"""What every operation shares: the service's limits and sending a long input list in batches."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Sequence
from typing import TypeVar

from mapping_client.chunks import item_limit, spans
from mapping_client.errors import ServiceError
from mapping_client.protocol import Call, Reply, Step, call

X = TypeVar("X")
Batches = Generator[Step, Reply | None, list[Reply]]

DEFAULT_MAX_ITEMS = 64  # the service's MMS_MAX_ITEMS default
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024  # the service's MMS_MAX_BODY_BYTES default
_BODY_MARGIN = 0.9  # keep batches a little under the body limit (JSON overhead, estimates)


class Operations:
    """The base of the operation mixins: the limits, and ``_batched``.

    Args:
        max_items: inputs per request, at most (the service's ``MMS_MAX_ITEMS``). A lower limit
            that the service reports in a 422 is learned and used from then on.
        max_body_bytes: request body size, at most (the service's ``MMS_MAX_BODY_BYTES``).
    """

    def __init__(
        self, max_items: int = DEFAULT_MAX_ITEMS, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self.max_body_bytes = max_body_bytes

    def _batched(
        self,
        inputs: Sequence[X],
        build: Callable[[Sequence[X]], Call],
        sizes: Sequence[int],
        *,
        weight: int = 1,
        reserve: int = 0,
    ) -> Batches:
        """Send ``inputs`` in as few requests as the limits allow; the replies in input order.

        Args:
            inputs: the inputs, in order.
            build: the call carrying one slice of ``inputs``.
            sizes: the approximate body bytes of each input.
            weight: items each input counts for against the limit.
            reserve: items each request carries besides the inputs.
        """
        budget = int(self.max_body_bytes * _BODY_MARGIN)
        todo = deque(spans(sizes, self.max_items, budget, weight=weight, reserve=reserve))
        replies: list[Reply] = []
        while todo:
            start, stop = todo.popleft()
            try:
                replies.append((yield from call(build(inputs[start:stop]))))
            except ServiceError as error:
                limit = item_limit(error)
                if limit is None or stop - start == 1 or limit >= (stop - start) * weight + reserve:
                    raise
                self.max_items = limit  # the service's limit is lower than we were told
                smaller = spans(sizes[start:stop], limit, budget, weight=weight, reserve=reserve)
                todo.extendleft(reversed([(start + a, start + b) for a, b in smaller]))
        return replies
