"""``Client`` (blocking) and ``AsyncClient``: the same operations over httpx's two clients.

Every method is defined once, as an operation of ``tasks`` or ``gallery``; the classes below only
say how to run one (``_run``): send its calls with retries, sleep when it asks, hand back the
replies or throw the errors into it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

import httpx

from mapping_client.base import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ITEMS
from mapping_client.errors import ServiceError
from mapping_client.gallery import GalleryOperations
from mapping_client.protocol import Operation, Reply, Sleep, Step
from mapping_client.tasks import TaskOperations
from mapping_client.transport import RetryPolicy, send, send_async

P = ParamSpec("P")
T = TypeVar("T")
DEFAULT_URL = "http://localhost:8000"
DEFAULT_TIMEOUT_S = 60.0


class _Operations(TaskOperations, GalleryOperations):
    """Every operation of the API."""


class _Base:
    """Settings both clients share; see ``Client`` for the arguments."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retries: int = 5,
        backoff_s: float = 0.5,
        max_wait_s: float = 30.0,
        max_items: int = DEFAULT_MAX_ITEMS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        headers: dict[str, str] | None = None,
        transport: Any = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._ops = _Operations(max_items, max_body_bytes)
        self._policy = RetryPolicy(retries=retries, backoff_s=backoff_s, max_wait_s=max_wait_s)
        self._http = self._open(
            base_url=self.url, timeout=timeout, transport=transport,
            headers={**(headers or {}), **({"X-API-Key": api_key} if api_key else {})},
        )  # fmt: skip

    def _open(self, **http_args: Any) -> Any:
        raise NotImplementedError

    @property
    def max_items(self) -> int:
        """Inputs per request, at most (lowered when the service reports a lower limit)."""
        return self._ops.max_items


def _advance(op: Operation[T], outcome: Reply | ServiceError | None) -> Step | _Done[T]:
    """Feed ``outcome`` to ``op``: its next step, or ``_Done`` with its result."""
    try:
        if isinstance(outcome, ServiceError):
            return op.throw(outcome)
        return op.send(outcome)
    except StopIteration as stop:
        return _Done(stop.value)


@dataclass(frozen=True)
class _Done(Generic[T]):
    """An operation's result (a box, so no result is ever mistaken for a step)."""

    value: T


def _blocking(
    op: Callable[Concatenate[_Operations, P], Operation[T]],
) -> Callable[Concatenate[Client, P], T]:
    def method(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(op(self._ops, *args, **kwargs))

    functools.update_wrapper(method, op)  # name and docstring
    return method


def _async(
    op: Callable[Concatenate[_Operations, P], Operation[T]],
) -> Callable[Concatenate[AsyncClient, P], Awaitable[T]]:
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(op(self._ops, *args, **kwargs))

    functools.update_wrapper(method, op)
    return method


class Client(_Base):
    """A blocking client of the mapping-serve API. Use it as a context manager, or ``close()``.

    Args:
        url: the service's base URL.
        api_key: sent as ``X-API-Key`` (the service's ``MMS_API_KEY``).
        timeout: seconds per request (or an ``httpx.Timeout``).
        retries: how often a 429 or 503 answer, or a refused connection, is retried.
        backoff_s: the first wait when the service sends no ``Retry-After``; doubled each retry.
        max_wait_s: the longest single wait.
        max_items: inputs per request, at most (the service's ``MMS_MAX_ITEMS``, 64 by default);
            longer lists are sent in several requests.
        max_body_bytes: request body size to stay under (``MMS_MAX_BODY_BYTES``).
        headers: extra headers for every request.
        transport: an httpx transport (e.g. ``httpx.MockTransport`` in tests).

    Every method raises ``ServiceError`` when the service answers an error or cannot be reached.
    """

    _http: httpx.Client

    def _open(self, **http_args: Any) -> httpx.Client:
        return httpx.Client(**http_args)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _run(self, op: Operation[T]) -> T:
        outcome: Reply | ServiceError | None = None
        while not isinstance(step := _advance(op, outcome), _Done):
            outcome = None
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            try:
                outcome = send(self._http, step, self._policy)
            except ServiceError as error:
                outcome = error
        return step.value

    classify = _blocking(_Operations.classify)
    sentiment = _blocking(_Operations.sentiment)
    embed = _blocking(_Operations.embed)
    similarity = _blocking(_Operations.similarity)
    rank = _blocking(_Operations.rank)
    models = _blocking(_Operations.models)
    model = _blocking(_Operations.model)
    live = _blocking(_Operations.live)
    ready = _blocking(_Operations.ready)
    wait_ready = _blocking(_Operations.wait_ready)
    create_collection = _blocking(_Operations.create_collection)
    collections = _blocking(_Operations.collections)
    collection = _blocking(_Operations.collection)
    delete_collection = _blocking(_Operations.delete_collection)
    add = _blocking(_Operations.add)
    search = _blocking(_Operations.search)
    get_item = _blocking(_Operations.get_item)
    has_item = _blocking(_Operations.has_item)
    delete_items = _blocking(_Operations.delete_items)
    count = _blocking(_Operations.count)


class AsyncClient(_Base):
    """The async twin of ``Client``: the same arguments and methods, each to be awaited.

    Use it as ``async with AsyncClient(url) as client:``, or ``await client.aclose()``.
    """

    _http: httpx.AsyncClient

    def _open(self, **http_args: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(**http_args)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _run(self, op: Operation[T]) -> T:
        outcome: Reply | ServiceError | None = None
        while not isinstance(step := _advance(op, outcome), _Done):
            outcome = None
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                continue
            try:
                outcome = await send_async(self._http, step, self._policy)
            except ServiceError as error:
                outcome = error
        return step.value

    classify = _async(_Operations.classify)
    sentiment = _async(_Operations.sentiment)
    embed = _async(_Operations.embed)
    similarity = _async(_Operations.similarity)
    rank = _async(_Operations.rank)
    models = _async(_Operations.models)
    model = _async(_Operations.model)
    live = _async(_Operations.live)
    ready = _async(_Operations.ready)
    wait_ready = _async(_Operations.wait_ready)
    create_collection = _async(_Operations.create_collection)
    collections = _async(_Operations.collections)
    collection = _async(_Operations.collection)
    delete_collection = _async(_Operations.delete_collection)
    add = _async(_Operations.add)
    search = _async(_Operations.search)
    get_item = _async(_Operations.get_item)
    has_item = _async(_Operations.has_item)
    delete_items = _async(_Operations.delete_items)
    count = _async(_Operations.count)


__all__ = ["DEFAULT_URL", "AsyncClient", "Client"]
