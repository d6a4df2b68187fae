"""What the image check asks of the running server: HTTP requests, its process, the drain.

Standard library only. The server runs under ``buildah run --isolation chroot``, which shares the
host's network and process table: requests go to the loopback port the container was given, and
the server's process is found under the ``buildah run`` process on the host.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The sample photo and the ImageNet labels that count as a right top-1 for it (the same set as
# training/data/photos.py, which the vision model's build is measured on).
PHOTO_PACKAGE, PHOTO_FILE = "skimage", "data/chelsea.png"
PHOTO_LABELS = frozenset({"tabby, tabby cat", "tiger cat", "Egyptian cat"})


class ProbeError(AssertionError):
    """The running image failed one of the checks."""


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def photo_bytes() -> bytes:
    """The sample photo's PNG file, as scikit-image ships it (no download)."""
    import importlib.resources

    try:
        return (importlib.resources.files(PHOTO_PACKAGE) / PHOTO_FILE).read_bytes()
    except ModuleNotFoundError as exc:
        raise ProbeError(
            f"{PHOTO_PACKAGE} is not installed: run the check with the project's .venv "
            "(`make image-check`), which has the train extra"
        ) from exc


def classify_body(photo: bytes, top_k: int = 3) -> bytes:
    """A ``POST /v1/classify`` body: the photo, base64, for the vision model's ImageNet head."""
    image = base64.b64encode(photo).decode()
    request = {
        "model": "vision",
        "items": [{"image": image}],
        "tasks": ["imagenet"],
        "top_k": top_k,
    }
    return json.dumps(request).encode()


def request_head(port: int, path: str, length: int) -> bytes:
    """The request line and headers of a JSON POST with a body of ``length`` bytes."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ).encode()


def top_labels(response: dict[str, Any]) -> list[tuple[str, float]]:
    """(label, score) of the ImageNet head of the first item, best first."""
    labels = response["results"][0]["heads"]["imagenet"]["labels"]
    return [(entry["label"], float(entry["score"])) for entry in labels]


def check_photo_labels(response: dict[str, Any]) -> list[tuple[str, float]]:
    """The top labels; raises ProbeError unless the best one is a right label for the photo."""
    labels = top_labels(response)
    if labels[0][0] not in PHOTO_LABELS:
        raise ProbeError(f"chelsea.png (a tabby cat) classified as {labels}")
    return labels


def post(port: int, path: str, body: bytes, timeout_s: float = 30.0) -> tuple[int, bytes]:
    """POST a JSON body; (status, response body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def classify(port: int, photo: bytes) -> list[tuple[str, float]]:
    """Classify the photo over HTTP and check the answer (status 200, a cat label)."""
    status, body = post(port, "/v1/classify", classify_body(photo))
    if status != 200:
        raise ProbeError(f"POST /v1/classify answered {status}: {body[:300]!r}")
    return check_photo_labels(json.loads(body))


def children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    tasks = Path(f"/proc/{pid}/task")
    found: list[int] = []
    for task in tasks.glob("*") if tasks.is_dir() else []:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, parents before children."""
    found, queue = [], children(pid)
    while queue:
        found.append(queue.pop(0))
        queue += children(found[-1])
    return found


def cmdline(pid: int) -> list[str]:
    """A process's arguments; empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
    except OSError:
        return []


def find_server(root_pid: int, marker: tuple[str, str] = ("-m", "service")) -> int | None:
    """The ``python -m service`` process below ``root_pid`` (the entrypoint execs into it)."""
    for pid in descendants(root_pid):
        args = cmdline(pid)
        if any(tuple(args[i : i + 2]) == marker for i in range(len(args) - 1)):
            return pid
    return None


def process_ids(pid: int) -> tuple[list[int], list[int]]:
    """(real, effective, saved, filesystem uids) and the same gids of a running process."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = [int(v) for v in value.split()] if key in ("Uid", "Gid") else []
    return fields["Uid"], fields["Gid"]


def passwd_uid(passwd: str, user: str) -> int:
    """The uid of ``user`` (a name or a number) in the text of an /etc/passwd file."""
    if user.split(":")[0].isdigit():
        return int(user.split(":")[0])
    for line in passwd.splitlines():
        fields = line.split(":")
        if fields[0] == user.split(":")[0]:
            return int(fields[2])
    raise ProbeError(f"the image's user {user!r} is not in its /etc/passwd")


@dataclass
class Drain:
    """What the drain check saw: responses of the in-flight requests, refusal, exit time."""

    statuses: list[int]
    labels: list[str]
    refused_after_s: float
    exited_after_s: float


def _open_in_flight(port: int, body: bytes, count: int) -> list[socket.socket]:
    """``count`` requests whose headers and half of their body are sent: in flight, unfinished."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        sock.sendall(request_head(port, "/v1/classify", len(body)) + body[: len(body) // 2])
        sockets.append(sock)
    return sockets


def _wait(predicate: Any, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise ProbeError(f"{what} did not happen within {timeout_s:g} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _finish(sock: socket.socket, body: bytes) -> tuple[int, bytes]:
    with sock:
        sock.sendall(body[len(body) // 2 :])
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def drain(port: int, server_pid: int, photo: bytes, count: int, grace_s: float) -> Drain:
    """SIGTERM the server while ``count`` requests are in flight; each must still get its answer.

    The requests are held open mid-body, so they are certainly in flight when the signal arrives;
    the server must first stop accepting connections (proof that it is shutting down), then
    answer every held request with 200 and a right label, then exit within ``grace_s``.
    """
    body = classify_body(photo)
    held = _open_in_flight(port, body, count)
    time.sleep(0.5)  # let the server read the headers: the requests have started
    started = time.monotonic()
    os.kill(server_pid, signal.SIGTERM)
    refused = _wait(lambda: _refuses(port), 10.0, "closing the listening socket after SIGTERM")
    answers = [_finish(sock, body) for sock in held]
    statuses = [status for status, _ in answers]
    if statuses != [200] * count:
        raise ProbeError(f"in-flight requests answered {statuses} after SIGTERM: {answers[0]!r}")
    labels = [check_photo_labels(json.loads(answer))[0][0] for _, answer in answers]
    _wait(lambda: not cmdline(server_pid), grace_s, "the server's exit after SIGTERM")
    return Drain(statuses, labels, refused, time.monotonic() - started)
