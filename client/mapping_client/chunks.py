"""Splitting a long list of inputs into requests the service accepts.

The service takes at most ``MMS_MAX_ITEMS`` inputs per request (64 by default) and a body of at
most ``MMS_MAX_BODY_BYTES`` (16 MiB). Neither limit is published by the API, so the client is told
them (constructor arguments with the service's defaults) and learns a lower item limit from the
service's own answer (a 422 whose envelope carries ``limit``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mapping_client.errors import ServiceError

_ITEM_LIMIT_MESSAGE = re.compile(r"items in one request; the limit is")


def spans(
    sizes: Sequence[int], max_items: int, max_bytes: int, *, weight: int = 1, reserve: int = 0
) -> list[tuple[int, int]]:
    """Consecutive ``(start, stop)`` spans of ``len(sizes)`` inputs, each a request's worth.

    Args:
        sizes: the approximate body bytes of each input.
        max_items: the service's item limit.
        max_bytes: the body size to stay under (an input larger than it goes alone).
        weight: items each input counts for (2 for a similarity pair).
        reserve: items every request carries besides the inputs (1 for a rank query).
    """
    per_request = max(1, (max_items - reserve) // weight)
    result: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        full = index - start >= per_request or (index > start and used + size > max_bytes)
        if full:
            result.append((start, index))
            start, used = index, 0
        used += size
    if start < len(sizes):
        result.append((start, len(sizes)))
    return result


def item_limit(error: ServiceError) -> int | None:
    """The item limit a "too many items" 422 reports, else ``None``."""
    limit = error.details.get("limit")
    if error.status == 422 and isinstance(limit, int) and _ITEM_LIMIT_MESSAGE.search(error.message):
        return limit
    return None
