"""Run docker/nginx.conf.template under the local nginx, as the nginx image would render it.

Used by ``tests/deploy/test_nginx.py`` and by ``python -m bench.abuse --proxy nginx``. The image
substitutes ``${NGINX_*}`` (envsubst) and includes the result inside ``http { }`` of the main
configuration that Compose mounts (``docker/nginx.conf``); here the same substitution is done in
Python and that main configuration wraps it, with every path under a given prefix. Adaptations,
all outside what the tests check: the upstream is given as ``127.0.0.1:port`` (not Docker's DNS
name ``api``); the public server listens on a free local port and the admission server on a
socket under the prefix (not 80 and /var/run), and the access log is ``logs/access.log`` under
it; and on nginx older than 1.27.3 (Debian 12 ships 1.22) the upstream ``resolve`` parameter,
which open-source nginx gained in 1.27.3, is dropped.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import warnings
from pathlib import Path

from bench.server import ROOT

DOCKER_DIR = ROOT / "docker"
TEMPLATE = DOCKER_DIR / "nginx.conf.template"
MAIN = DOCKER_DIR / "nginx.conf"  # the main configuration Compose mounts over the image's
ENV_EXAMPLE = DOCKER_DIR / ".env.example"  # every deployment setting with its default
ADMISSION = "unix:/var/run/nginx-mms-admission.sock"  # the admission server's, in the template
ACCESS_LOG = "/var/log/nginx/access.log"  # the public server's, in the template
# The end of a line of the template's "mms_timed" log format.
_TIMED = re.compile(r'" (\d{3}) \d+ .* request_time=([\d.]+) upstream_time=(.+)$')
RESOLVE_SINCE = (1, 27, 3)


def nginx_version(nginx: str) -> tuple[int, ...]:
    """The version of the nginx binary, e.g. (1, 22, 1); warns when it predates ``resolve``."""
    output = subprocess.run([nginx, "-v"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    assert match, output
    version = tuple(int(part) for part in match.groups())
    if version < RESOLVE_SINCE:
        warnings.warn(
            f"nginx {'.'.join(map(str, version))} predates the upstream 'resolve' parameter "
            "(1.27.3); the tests run the configuration without it",
            stacklevel=2,
        )
    return version


def deployment_defaults() -> dict[str, str]:
    """The NAME=value lines of docker/.env.example: the defaults compose gives (a test holds
    the two equal)."""
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def render(values: dict[str, str], listen: int, version: tuple[int, ...], prefix: Path) -> str:
    """The template with ``values`` substituted, listening on 127.0.0.1:``listen``, its
    admission server's socket under ``prefix``."""
    text = TEMPLATE.read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    leftover = re.findall(r"\$\{NGINX_\w+\}", text)
    assert not leftover, f"no value for {leftover}"
    text = text.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    assert text.count(ADMISSION) == 2, "the admission server's listen and its upstream"
    text = text.replace(ADMISSION, f"unix:{prefix / 'admission.sock'}")
    assert text.count(ACCESS_LOG) == 1, "the public server's access log"
    text = text.replace(ACCESS_LOG, str(access_log(prefix)))
    if version < RESOLVE_SINCE:
        text = text.replace(" resolve ", " ")
    return text


def access_log(prefix: Path) -> Path:
    """Where the public server under ``prefix`` logs its requests (nginx writes it within 1 s)."""
    return prefix / "logs" / "access.log"


def error_log(prefix: Path) -> Path:
    """Where nginx under ``prefix`` writes its error log (``start`` points it there)."""
    return prefix / "logs" / "error.log"


def timings(lines: list[str]) -> list[tuple[int, float, float | None]]:
    """``(status, request_time, upstream_time)`` in seconds per access-log line; upstream_time is
    None where nginx passed nothing on, and the last of several upstream tries where it did."""
    out = []
    for line in lines:
        match = _TIMED.search(line.rstrip("\n"))
        if match:
            upstream = re.split(r"[,:]", match.group(3))[-1].strip()  # "0.1, 0.2" or "0.1 : -"
            status, took = int(match.group(1)), float(match.group(2))
            out.append((status, took, None if upstream == "-" else float(upstream)))
    return out


def write_prefix(prefix: Path, server_conf: str) -> Path:
    """Write conf/nginx.conf under ``prefix``: the deployment's main configuration
    (``docker/nginx.conf``: its workers and events) with its paths under ``prefix``, wrapping
    ``server_conf``; return its path."""
    (prefix / "conf").mkdir(parents=True, exist_ok=True)
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "conf" / "default.conf").write_text(server_conf)
    # Workers of a root master run as "nobody", who cannot enter pytest's 0700 temp folders.
    user = "user root;" if os.geteuid() == 0 else ""
    mime = "include /etc/nginx/mime.types;"
    main = MAIN.read_text(encoding="utf-8")
    for old, new in (
        ("user nginx;", user),
        ("error_log /var/log/nginx/error.log notice;", "error_log logs/error.log notice;"),
        ("pid /var/run/nginx.pid;", f"pid {prefix}/nginx.pid;"),
        (mime, mime if Path("/etc/nginx/mime.types").exists() else ""),
        ("include /etc/nginx/conf.d/*.conf;", "include default.conf;"),
    ):
        assert main.count(old) == 1, f"docker/nginx.conf has no {old!r}"
        main = main.replace(old, new)
    path = prefix / "conf" / "nginx.conf"
    path.write_text(main)
    return path


def start(nginx: str, prefix: Path, port: int, nice: int = 0) -> subprocess.Popen[bytes]:
    """Start nginx in the foreground and wait until it accepts connections on ``port``.

    Its log goes to ``prefix/logs/error.log`` (a pipe nobody reads would fill under load and
    stall nginx). ``nice`` is added to its scheduling niceness (its workers inherit it; below 0
    needs root).
    """
    log = error_log(prefix)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [nginx, "-p", f"{prefix}/", "-c", "conf/nginx.conf", "-e", str(log), "-g",
             "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=sink,
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
        )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("nginx did not start listening within 10 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (nginx's fast shutdown) and reap the master; it stops its own workers."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
