"""buildah for the image check: one storage, the vfs driver, chroot isolation; the image's config.

The image check (``docker/image_check.py``) builds and starts images with buildah because the
development machine and CI have no Docker engine. Every command here passes the same storage
options: the ``vfs`` driver (it needs no overlay or FUSE support; it copies each layer in full, so
keep few images around) and a storage root of the check's own, so that it never mixes with (or
breaks on) a system storage set up with another driver.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

NANOSECONDS = 1e9


class BuildahError(RuntimeError):
    """A buildah command failed; the message holds the command and the end of its output."""


@dataclass(frozen=True)
class Healthcheck:
    """The image's HEALTHCHECK: the command to run in the container and Docker's timings (s)."""

    command: list[str]
    interval_s: float
    timeout_s: float
    start_period_s: float
    retries: int

    @property
    def deadline_s(self) -> float:
        """When Docker would mark the container unhealthy: start period, then every retry fails."""
        return self.start_period_s + self.retries * self.interval_s


@dataclass(frozen=True)
class ImageConfig:
    """What ``docker run`` reads from an image's config to start it."""

    entrypoint: list[str]
    cmd: list[str]
    user: str
    env: dict[str, str]
    healthcheck: Healthcheck | None
    stop_signal: str

    @property
    def command(self) -> list[str]:
        """The process ``docker run IMAGE`` starts: entrypoint followed by the default command."""
        return [*self.entrypoint, *self.cmd]


def _healthcheck(raw: Mapping[str, Any]) -> Healthcheck | None:
    test = list(raw.get("Test") or [])
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        command = test[1:]
    elif test[0] == "CMD-SHELL":
        command = ["/bin/sh", "-c", test[1]]
    else:
        raise ValueError(f"unknown HEALTHCHECK test form {test[0]!r}")
    # Docker's defaults for the fields a HEALTHCHECK leaves out (0 in the config).
    return Healthcheck(
        command=command,
        interval_s=(raw.get("Interval") or 30 * NANOSECONDS) / NANOSECONDS,
        timeout_s=(raw.get("Timeout") or 30 * NANOSECONDS) / NANOSECONDS,
        start_period_s=(raw.get("StartPeriod") or 0) / NANOSECONDS,
        retries=raw.get("Retries") or 3,
    )


def image_config(inspect: Mapping[str, Any]) -> ImageConfig:
    """The run configuration in ``buildah inspect --type image`` output (Docker format).

    Raises:
        ValueError: the image was not committed in Docker format (an OCI config cannot hold a
            HEALTHCHECK, so buildah drops it) or its healthcheck has an unknown form.
    """
    config = (inspect.get("Docker") or {}).get("config")
    if not config:
        raise ValueError("no Docker config in the image: build it with --format docker")
    env = dict(item.partition("=")[::2] for item in config.get("Env") or [])
    return ImageConfig(
        entrypoint=list(config.get("Entrypoint") or []),
        cmd=list(config.get("Cmd") or []),
        user=config.get("User") or "root",
        env=env,
        healthcheck=_healthcheck(config.get("Healthcheck") or {}),
        stop_signal=config.get("StopSignal") or "SIGTERM",
    )


class Buildah:
    """buildah commands on one storage root with the vfs driver."""

    def __init__(self, storage: Path, executable: str = "buildah") -> None:
        self.storage = storage
        self.executable = executable

    def argv(self, *args: str) -> list[str]:
        """The full command line of ``buildah ARGS`` on this storage."""
        root, runroot = str(self.storage / "root"), str(self.storage / "run")
        storage = ["--storage-driver", "vfs", "--root", root, "--runroot", runroot]
        return [self.executable, *storage, *args]

    def run(self, *args: str, log: IO[str] | None = None, timeout: float | None = None) -> str:
        """Run ``buildah ARGS``; its stdout, or everything into ``log`` when given.

        Raises:
            BuildahError: the command exited non-zero.
        """
        out = log if log is not None else subprocess.PIPE
        done = subprocess.run(
            self.argv(*args),
            stdout=out,
            stderr=subprocess.STDOUT if log else subprocess.PIPE,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            tail = "" if log else (done.stderr or done.stdout or "")[-2000:]
            raise BuildahError(f"buildah {' '.join(args[:3])} ... exited {done.returncode}: {tail}")
        return done.stdout or ""

    def image_exists(self, name: str) -> bool:
        """True when ``name`` is an image in this storage."""
        done = subprocess.run(self.argv("inspect", "--type", "image", name), capture_output=True)
        return done.returncode == 0

    def inspect_image(self, name: str) -> dict[str, Any]:
        """``buildah inspect --type image NAME`` as a dict."""
        result: dict[str, Any] = json.loads(self.run("inspect", "--type", "image", name))
        return result

    def image_size(self, name: str) -> str:
        """The image's size as buildah reports it (e.g. ``550 MB``)."""
        images = json.loads(self.run("images", "--json", name))
        return str(images[0]["size"])

    def remove_container(self, name: str) -> None:
        """Remove a working container (and its mount) if it exists; never fails."""
        subprocess.run(self.argv("rm", name), capture_output=True)

    def remove_all_containers(self) -> None:
        """Remove every working container of this storage; never fails."""
        subprocess.run(self.argv("rm", "--all"), capture_output=True)

    def remove_image(self, name: str) -> None:
        """Remove an image if it exists, then every dangling image; never fails."""
        subprocess.run(self.argv("rmi", "--force", name), capture_output=True)
        subprocess.run(self.argv("rmi", "--prune"), capture_output=True)

    def run_in(self, container: str, command: Sequence[str], timeout: float) -> tuple[int, str]:
        """Run ``command`` in ``container`` as its configured user: (exit code, output)."""
        argv = self.argv("run", "--isolation", "chroot", container, "--", *command)
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1, f"timed out after {timeout:g} s"
        return done.returncode, (done.stdout + done.stderr).strip()
