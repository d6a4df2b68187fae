"""Sending one ``Call`` with retries: 429 and 503 honour ``Retry-After``, else exponential backoff.

The decision (answer, error or wait) is one function shared by the blocking and the async
senders; each sender is the same five-line loop around its own httpx client and sleep.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from mapping_client.errors import ServiceError, error_from_response, error_from_transport
from mapping_client.protocol import Call, Reply

RETRY_STATUSES = frozenset({429, 503})
CONNECT_RETRIES = 2


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before sending a call again.

    Args:
        retries: attempts after the first; 0 disables retrying.
        backoff_s: the first wait when the service gives no ``Retry-After``; doubled each time.
        max_wait_s: no single wait is longer (``Retry-After`` included).
    """

    retries: int = 5
    backoff_s: float = 0.5
    max_wait_s: float = 30.0

    def wait(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` counts from 0)."""
        given = parse_retry_after(retry_after)
        if given is None:
            given = self.backoff_s * 2**attempt
        return max(0.0, min(given, self.max_wait_s))


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number (fractions allowed) or an HTTP date; else ``None``."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def request_args(call: Call) -> dict[str, Any]:
    """The ``httpx.Client.request`` keyword arguments of ``call``."""
    args: dict[str, Any] = {"method": call.method, "url": call.path}
    if call.json is not None:
        args["json"] = call.json
    if call.params:
        args["params"] = dict(call.params)
    return args


def decide(
    call: Call,
    policy: RetryPolicy,
    attempt: int,
    response: httpx.Response | None,
    failure: httpx.TransportError | None,
    base_url: str,
) -> Reply | float:
    """The reply, or the seconds to wait before retrying; raises ``ServiceError`` otherwise."""
    can_retry = call.retry and attempt < policy.retries
    if response is None:
        assert failure is not None
        # A refused or dropped connection is retried, twice at most (1.5 s: a service that is
        # restarting is back by then, one that is down stays down). A timeout is not: the
        # service may be working on the request, and resending a batch doubles its load.
        dropped = isinstance(failure, (httpx.ConnectError, httpx.RemoteProtocolError))
        if can_retry and dropped and attempt < CONNECT_RETRIES:
            return policy.wait(attempt, None)
        raise error_from_transport(failure, base_url) from failure
    status = response.status_code
    if status < 400 or status in call.accept:
        return Reply(status, _body(response), response.headers)
    if can_retry and status in RETRY_STATUSES:
        return policy.wait(attempt, response.headers.get("retry-after"))
    raise error_from_response(response)


def send(http: httpx.Client, call: Call, policy: RetryPolicy) -> Reply:
    """Send ``call`` with the blocking client, retrying as ``policy`` says."""
    attempt = 0
    while True:
        response, failure = None, None
        try:
            response = http.request(**request_args(call))
        except httpx.TransportError as exc:
            failure = exc
        outcome = decide(call, policy, attempt, response, failure, str(http.base_url))
        if isinstance(outcome, Reply):
            return outcome
        time.sleep(outcome)
        attempt += 1


async def send_async(http: httpx.AsyncClient, call: Call, policy: RetryPolicy) -> Reply:
    """Send ``call`` with the async client, retrying as ``policy`` says."""
    attempt = 0
    while True:
        response, failure = None, None
        try:
            response = await http.request(**request_args(call))
        except httpx.TransportError as exc:
            failure = exc
        outcome = decide(call, policy, attempt, response, failure, str(http.base_url))
        if isinstance(outcome, Reply):
            return outcome
        await asyncio.sleep(outcome)
        attempt += 1


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise ServiceError(
            f"the service answered {response.status_code} with a body that is not JSON: "
            f"{response.text[:200]!r}",
            type="invalid_response", status=response.status_code,
            request_id=response.headers.get("x-request-id"),
        ) from None  # fmt: skip
