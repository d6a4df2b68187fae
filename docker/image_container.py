"""A working container of the checked image, started the way ``docker run IMAGE`` starts it.

``buildah run --isolation chroot`` runs the image's ENTRYPOINT + CMD as the image's user, sharing
the host's network and process table, so the server's process is visible (and signalled) from
the host. ``buildah run`` sets no environment of its own; the container's config carries it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import image_probe
from image_buildah import Buildah, Healthcheck

# Files that a build step's tools leave behind (ONNX Runtime's telemetry state, caches).
LEFTOVERS = ("tmp/*", "tmp/.*", "root/.cache")


class ContainerError(RuntimeError):
    """The container did not start, or stopped, when the check needed it running."""


class Container:
    """One working container: its files as built, then its server process."""

    def __init__(self, buildah: Buildah, name: str) -> None:
        self.buildah = buildah
        self.name = name
        self.passwd = ""
        self.leftovers: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.server_pid = 0

    def create(self, image: str, env: dict[str, str]) -> None:
        """``buildah from`` the image, read its files before anything runs, then set ``env``."""
        self.buildah.run("from", "--pull-never", "--name", self.name, image)
        rootfs = Path(self.buildah.run("mount", self.name).strip())
        try:
            self.passwd = (rootfs / "etc/passwd").read_text()
            found = (path for pattern in LEFTOVERS for path in rootfs.glob(pattern))
            self.leftovers = sorted(str(path.relative_to(rootfs)) for path in found)
        finally:
            self.buildah.run("umount", self.name)
        settings = [f"--env={key}={value}" for key, value in env.items()]
        self.buildah.run("config", *settings, self.name)

    def start(self, command: list[str], log: IO[str], timeout_s: float = 60.0) -> int:
        """Run ``command`` in the container; the pid of its ``python -m service`` process."""
        argv = self.buildah.argv("run", "--isolation", "chroot", self.name, "--", *command)
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.raise_if_exited("at start")
            pid = image_probe.find_server(self.process.pid)
            if pid:
                self.server_pid = pid
                return pid
            time.sleep(0.1)
        raise ContainerError(f"no `python -m service` process after {timeout_s:g} s")

    def raise_if_exited(self, when: str) -> None:
        """Fail when the container's process has already ended."""
        if self.process is not None and self.process.poll() is not None:
            raise ContainerError(f"the container exited ({self.process.returncode}) {when}")

    def wait_healthy(self, check: Healthcheck) -> str:
        """Run the HEALTHCHECK command in the container until it passes; what it printed.

        Polled every second rather than at the HEALTHCHECK's interval (10 s): the interval paces
        Docker's probes, it is not part of what is checked. It fails where Docker would report
        ``unhealthy``: after the start period plus ``retries`` intervals.
        """
        started, probes = time.monotonic(), 0
        while time.monotonic() - started < check.deadline_s:
            self.raise_if_exited("before it was healthy")
            probes += 1
            # + 2 s: buildah's own start-up is no part of the probe's time.
            code, output = self.buildah.run_in(self.name, check.command, check.timeout_s + 2)
            if code == 0:
                waited = time.monotonic() - started
                return f"{json.dumps(check.command)} passed after {waited:.1f} s, " \
                       f"{probes} probe(s): {output}"  # fmt: skip
            time.sleep(1.0)
        raise ContainerError(f"the HEALTHCHECK did not pass within {check.deadline_s:g} s")

    def wait(self, timeout_s: float) -> int:
        """The exit status of ``buildah run`` once the container's process has ended."""
        assert self.process is not None
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """SIGKILL whatever is left of the container's processes (a no-op after a clean exit)."""
        if self.process is None or self.process.poll() is not None:
            return
        for pid in [*image_probe.descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(OSError):  # already gone
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=30)
