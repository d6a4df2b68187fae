"""The client's operations as generators, so that the sync and async clients share them.

An operation (``classify``, ``add``, ...) is written once as a generator: it yields a ``Call``
(one HTTP request to make) or a ``Sleep``, receives the ``Reply``, and returns the typed result.
A failed call is thrown into the generator as a ``ServiceError``, so an operation may react (for
instance split a batch the service found too large). ``Client`` runs operations with httpx's
blocking client and ``time.sleep``; ``AsyncClient`` with its async client and ``asyncio.sleep``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote as _quote

T = TypeVar("T")


@dataclass(frozen=True)
class Call:
    """One HTTP request to the service.

    Args:
        method: ``GET``, ``POST`` or ``DELETE``.
        path: the path under the base URL, already quoted.
        json: the JSON body, if any.
        params: query parameters.
        accept: non-2xx statuses that are an answer rather than an error (``ready``: 503).
        retry: whether 429/503 and connection failures are retried.
    """

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    accept: frozenset[int] = field(default_factory=frozenset)
    retry: bool = True


@dataclass(frozen=True)
class Reply:
    """The status, parsed JSON body and headers of a successful (or accepted) call."""

    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Sleep:
    """Wait this many seconds (``wait_ready`` polls with it)."""

    seconds: float


Step = Call | Sleep
Operation = Generator[Step, Reply | None, T]
"""A generator that yields calls (or sleeps), is sent their replies, and returns a ``T``."""


def call(step: Call) -> Generator[Step, Reply | None, Reply]:
    """``reply = yield from call(Call(...))``: one request, typed for the operation's body."""
    reply = yield step
    assert reply is not None, "a Call is always answered with a Reply"
    return reply


def quote(part: str) -> str:
    """``part`` quoted as one path segment (item ids may hold ``/``)."""
    return _quote(part, safe="")
