"""A minimal HTTP/1.1 keep-alive client for the load generator (what ``wrk`` does, in asyncio).

On a 2-core machine the client shares the CPU with the server under test; ``httpx`` spends
2-5 ms of CPU per request, which the server then lacks. This client sends a pre-built request
head and body on one connection per virtual user and reads the status, headers and body, at a
fraction of that cost. It speaks only what the benchmark needs: POST, ``Content-Length`` or
chunked responses, keep-alive, and optionally ``Expect: 100-continue`` (the body goes out only
after the server's ``100 Continue``; a final answer before it means the body is never sent, and
the connection is closed, as RFC 9110 15.2.1 leaves a client no other way to reuse it).
Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

__all__ = ["KeepAliveConnection"]

_MAX_HEADER_LINES = 100


class KeepAliveConnection:
    """One keep-alive connection that POSTs bodies to one URL and returns status codes."""

    def __init__(
        self, url: str, headers: dict[str, str], timeout_s: float, *, expect_continue: bool = False
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"only plain http://host:port URLs are supported, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{key}: {value}" for key, value in headers.items()]
        self.expect_continue = expect_continue
        if expect_continue:
            lines.append("Expect: 100-continue")
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        """Send ``body``; return the response status (0 on any transport failure or timeout)."""
        try:
            return await asyncio.wait_for(self._exchange(body), self.timeout_s)
        except (OSError, asyncio.IncompleteReadError, ValueError, TimeoutError):
            await self.close()  # the next request reconnects
            return 0

    async def _exchange(self, body: bytes) -> int:
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = self._head + str(len(body)).encode() + b"\r\n\r\n"
        reader, writer = self._reader, self._writer
        writer.write(head if self.expect_continue else head + body)
        status, headers = await _read_head(reader)
        body_sent = not self.expect_continue
        if status == 100:
            writer.write(body)
            body_sent = True
            status, headers = await _read_head(reader)
        self.on_headers(headers)
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            await _skip_chunks(reader)
        else:
            await reader.readexactly(int(headers.get(b"content-length", b"0")))
        if not body_sent or headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status

    def on_headers(self, headers: dict[bytes, bytes]) -> None:
        """A hook for subclasses that read more than the status (lower-cased header names)."""

    async def close(self) -> None:
        """Close the socket (idempotent)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    """A response's status code and headers (lower-cased names)."""
    status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
    return status, await _read_headers(reader)


async def _read_headers(reader: asyncio.StreamReader) -> dict[bytes, bytes]:
    headers: dict[bytes, bytes] = {}
    for _ in range(_MAX_HEADER_LINES):
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            return headers
        key, _, value = line.partition(b":")
        headers[key.strip().lower()] = value.strip()
    raise ValueError("too many response header lines")


async def _skip_chunks(reader: asyncio.StreamReader) -> None:
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        await reader.readexactly(size + 2)  # the chunk and its CRLF
        if size == 0:
            return
