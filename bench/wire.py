"""Request latency as the wire sees it: from a request's first byte to its answer's first byte.

A load generator's own latency figure includes its scheduling: with hundreds of connections
in a few Python processes on one core, a 429 the server sent in a millisecond is read by the
client hundreds of milliseconds later. This reads the loopback with ``tcpdump`` instead
(root, Debian's ``tcpdump``), keeping only the packets that start a request (``POST``), start
an answer (``HTTP/``) or open a connection (SYN): the time between a request's first packet
and its answer's first packet is what the server and the kernel between them took, whatever
the client did before sending or after receiving. Requests are paired with answers per
connection in order (the benchmark's clients do not pipeline). Loopback only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["WireLog", "available", "capture", "pair"]

# A packet line of `tcpdump -n -tt -A`: time, source and destination address.port.
_PACKET = re.compile(r"^(\d+\.\d+) IP6? \S+\.(\d+) > \S+\.(\d+): Flags \[([^\]]*)\]")
_STATUS = re.compile(r"HTTP/1\.[01] (\d{3}) ")
# BPF: the packet's TCP payload starts with "POST" (0x504f5354) or "HTTP" (0x48545450), or SYN.
_PAYLOAD = "tcp[((tcp[12:1] & 0xf0) >> 2):4]"
_FILTER = (f"tcp port {{port}} and ({_PAYLOAD} = 0x504f5354 or {_PAYLOAD} = 0x48545450 "
           "or tcp[tcpflags] & tcp-syn != 0)")  # fmt: skip


@dataclass
class WireLog:
    """What one capture saw: ``(status, seconds)`` per answered request."""

    answered: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None  # why there are no figures (no tcpdump, not root)

    def of(self, status: int) -> list[float]:
        """Wire latencies of the requests answered with ``status``."""
        return [s for code, s in self.answered if code == status]


def available() -> str | None:
    """None when a capture can run here, else why not."""
    if shutil.which("tcpdump") is None:
        return "tcpdump is not installed (Debian: apt-get install tcpdump)"
    return None


@contextmanager
def capture(port: int) -> Iterator[WireLog]:
    """Capture the loopback traffic of ``port`` while the block runs; the log is filled after."""
    log = WireLog(error=available())
    if log.error:
        yield log
        return
    command = ["tcpdump", "-i", "lo", "-n", "-tt", "-l", "-A", "-s", "160", "--immediate-mode",
               _FILTER.format(port=port)]  # fmt: skip
    # To a file, not a pipe: a pipe nobody reads until the end fills, tcpdump blocks on it and
    # the kernel silently drops what its ring buffer cannot hold.
    with tempfile.TemporaryFile("w+", errors="replace") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, text=True,
                                errors="replace")  # fmt: skip
        said = _wait_listening(proc)
        try:
            yield log
        finally:
            time.sleep(0.5)  # the last answers reach the capture
            proc.terminate()
            _, err = proc.communicate(timeout=30)
            out.seek(0)
            log.answered = pair(_packets(out.read(), port))
        err = said + err
        dropped = re.search(r"(\d+) packets dropped by kernel", err)
        if not log.answered:
            log.error = err.strip().splitlines()[-1] if err.strip() else "tcpdump captured nothing"
        elif dropped and int(dropped.group(1)):
            log.error = f"tcpdump: {dropped.group(1)} packets dropped by kernel"


def _wait_listening(proc: subprocess.Popen[str], timeout_s: float = 10.0) -> str:
    """What tcpdump said until it listens (its filter attached), or until ``timeout_s``."""
    assert proc.stderr is not None
    said = ""
    until = time.monotonic() + timeout_s
    while time.monotonic() < until and proc.poll() is None:
        line = proc.stderr.readline()
        said += line
        if line.startswith("listening on"):
            break
    time.sleep(0.2)
    return said


def _packets(text: str, server_port: int) -> Iterator[tuple[float, int, str]]:
    """(time, client port, kind) per captured packet; kind: ``SYN``, ``POST`` or a status."""
    header: tuple[float, int, bool, bool] | None = None  # time, client port, from server, SYN
    payload: list[str] = []
    for line in text.splitlines():
        match = _PACKET.match(line)
        if not match:
            payload.append(line)  # -A prints the packet's bytes on the lines after its header
            continue
        if header is not None:
            yield _classify(*header, "\n".join(payload))
        t, sport, dport, flags = match.groups()
        from_server = int(sport) == server_port
        header = (float(t), int(dport if from_server else sport), from_server, "S" in flags)
        payload = []
    if header is not None:
        yield _classify(*header, "\n".join(payload))


def _classify(
    t: float, client: int, from_server: bool, syn: bool, payload: str
) -> tuple[float, int, str]:
    if syn:
        return t, client, "SYN"
    if not from_server:
        return t, client, "POST" if "POST " in payload else "?"
    status = _STATUS.search(payload)
    return t, client, status.group(1) if status else "?"


def pair(packets: Iterable[tuple[float, int, str]]) -> list[tuple[int, float]]:
    """Match each answer to the oldest open request of its connection: (status, seconds).

    A SYN starts a new connection on that client port (an earlier one's unanswered requests
    are dropped); an answer with no open request (a 100 Continue, say) is skipped.
    """
    open_requests: dict[int, deque[float]] = defaultdict(deque)
    answered: list[tuple[int, float]] = []
    for t, client, kind in packets:
        if kind == "SYN":
            open_requests[client].clear()
        elif kind == "POST":
            open_requests[client].append(t)
        elif kind.isdigit() and kind != "100" and open_requests[client]:
            answered.append((int(kind), t - open_requests[client].popleft()))
    return answered
