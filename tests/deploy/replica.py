"""A stub service replica for tests of what runs in front of it (nginx): it records what came."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INSTALL = "apt-get install -y --no-install-recommends nginx"  # what the nginx tests need


@dataclass
class Seen:
    """What the stub replica received: (method, path, X-Request-ID) per request, and each
    request's X-Forwarded-For. Requests to ``/v1/hold`` wait for ``release`` before answering."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    forwarded_for: list[str | None] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))


def stub_replica(seen: Seen) -> ThreadingHTTPServer:
    """A replica on a free loopback port that answers every GET and POST with its path as JSON."""

    class Replica(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # nginx keeps upstream connections alive

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.requests.append((self.command, self.path, self.headers.get("X-Request-ID")))
            seen.forwarded_for.append(self.headers.get("X-Forwarded-For"))
            if self.path == "/v1/hold":
                seen.holding.release()
                seen.release.wait(timeout=10)
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Replica)
