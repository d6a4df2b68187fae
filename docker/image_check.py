"""Build the ``runtime-cpu`` image of docker/Dockerfile for real, start it and check it.

There is no Docker engine on the development machine or in CI, so the check uses buildah, which
needs none: ``buildah bud --isolation chroot --storage-driver vfs`` builds the real Dockerfile
(every stage the target needs, the training stage included), and ``buildah run --isolation
chroot`` starts the image's own entrypoint and command as the image's user. Steps:

1. preflight   root, buildah and debootstrap present, enough free disk
2. base        the local ``python:3.11-slim-bookworm`` (image_base.py; made once, then cached)
3. wheelhouse  torch's CPU build for the training stage, from the host's pip (image_base.py)
4. build       ``buildah bud --target runtime-cpu``; prints the image size
5. start       ENTRYPOINT + CMD from the image config, with MMS_PORT set to a free port
6. healthy     the image's HEALTHCHECK command, run inside the container, until it passes
7. user        the server process runs as the image's user (uid 10001, ``mms``), not root
8. contents    ``python -c "import torch"`` fails inside the image; no build leftovers in it
9. classify    POST /v1/classify with a photo of a cat: 200 and a cat label
10. drain      SIGTERM with requests in flight: each gets its 200, then the process exits

Usage, as root (``make image-check`` runs it with the project's .venv)::

    python docker/image_check.py [--quick] [--rebuild-base] [--reuse-image] [--cache-dir DIR]

Everything it makes lives under ``--cache-dir`` (default ``.cache/image-check``, git-ignored):
buildah's storage (the base and the last checked image, ``localhost/mapping-serve:check-cpu``),
the wheelhouse and the logs. Whatever fails, the server is stopped and the working container
removed; the exit status is 1 and the end of the relevant log is printed.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

import image_base
import image_probe
from image_buildah import Buildah, BuildahError, ImageConfig, image_config
from image_container import Container, ContainerError

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
TARGET = "runtime-cpu"
IMAGE = "localhost/mapping-serve:check-cpu"
CONTAINER = "mapping-serve-image-check"
# An empty directory of the base: a bind mount there leaves no mount point behind in the image.
WHEELHOUSE_MOUNT = "/mnt"
# The build reaches PyPI through the host's network; a host behind a TLS-inspecting proxy trusts
# that proxy only in its own CA bundle, so the build's RUN steps see the host's (bind-mounted,
# never committed). On other hosts this is the same Debian bundle the base already has.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
IN_FLIGHT = 4  # requests held open across the SIGTERM
SERVICE_GRACEFUL_S = 30.0  # python -m service's --graceful-timeout default
# Free disk the check needs under --cache-dir: vfs storage copies the whole file tree for each
# layer, so a build takes several times the image's size. Measured here: the quick build peaked
# at about 6 GB above where it started (2026-12-07). A CI run that began with 5.4 GB free failed
# two minutes into the build with ENOSPC; this fails at once and says why.
MIN_FREE_BYTES = 8 * 2**30


class CheckError(RuntimeError):
    """A step of the check failed; the message says what was expected."""


def dockerfile_args(path: Path) -> dict[str, str]:
    """The global ``ARG NAME=default`` values of a Dockerfile (before its first FROM)."""
    args = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("FROM "):
            break
        match = re.match(r"ARG (\w+)=(.*)$", line.strip())
        if match:
            args[match.group(1)] = match.group(2).strip().strip('"')
    return args


class Steps:
    """Runs the steps in order, prints each one's result and time, and a summary at the end."""

    def __init__(self, out: IO[str] = sys.stdout) -> None:
        self.out = out
        self.times: list[tuple[str, float]] = []

    def run(self, name: str, step: Callable[[], str]) -> None:
        """Run one step; its return value is the line printed under its name."""
        print(f"==> {name}", file=self.out, flush=True)
        started = time.monotonic()
        try:
            detail = step()
        except BaseException:
            self.times.append((f"{name} (FAILED)", time.monotonic() - started))
            raise
        seconds = time.monotonic() - started
        self.times.append((name, seconds))
        print(f"    ok ({seconds:.1f} s): {detail}", file=self.out, flush=True)

    def summary(self) -> None:
        """Every step's time, the failed one included, and the total."""
        width = max([len("total"), *(len(name) for name, _ in self.times)])
        print("\nstep times:", file=self.out)
        for name, seconds in self.times:
            print(f"  {name:<{width}}  {seconds:7.1f} s", file=self.out)
        total = sum(seconds for _, seconds in self.times)
        print(f"  {'total':<{width}}  {total:7.1f} s", file=self.out, flush=True)


def free_disk(path: Path, need: int = MIN_FREE_BYTES) -> str:
    """How much disk is free under ``path``; CheckError when it is less than ``need`` bytes."""
    free = shutil.disk_usage(path).free
    if free < need:
        raise CheckError(
            f"{free / 2**30:.1f} GiB free under {path}; the build needs about "
            f"{need / 2**30:.0f} GiB (vfs storage copies every layer): free some disk"
        )
    return f"{free / 2**30:.1f} GiB free"


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file (empty when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class ImageCheck:
    """The steps of the check, on one buildah storage; ``stack`` undoes what they start."""

    def __init__(self, args: argparse.Namespace, stack: ExitStack) -> None:
        self.args = args
        self.stack = stack
        self.cache: Path = args.cache_dir
        self.logs = self.cache / "logs"
        self.buildah = Buildah(self.cache / "storage")
        self.dockerfile = dockerfile_args(DOCKERFILE)
        self.base = image_base.image_reference(self.dockerfile["PYTHON_IMAGE"])
        self.current_log: Path | None = None
        self.container = Container(self.buildah, CONTAINER)
        self.port = 0
        self.config: ImageConfig | None = None

    @contextmanager
    def log(self, name: str) -> Iterator[IO[str]]:
        """A log file for one step (printed in part if the step fails); stdout with --verbose."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.current_log = self.logs / f"{name}.log"
        with self.current_log.open("w") as file:
            yield sys.stdout if self.args.verbose else file

    def preflight(self) -> str:
        """Root, the tools, free disk; the cache locked; what a killed run left behind removed."""
        if os.geteuid() != 0:
            raise CheckError("run as root (buildah storage, debootstrap, chroot)")
        missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
        if missing:
            raise CheckError(
                f"missing {missing}: apt-get install --no-install-recommends buildah debootstrap"
            )
        image_base.check_stands_in(self.base)
        self._lock_cache()
        free = free_disk(self.cache)
        # The storage is the check's own: no container in it outlives a run, whether it passes,
        # fails or was killed (a build's intermediate containers included).
        self.buildah.remove_all_containers()
        self.stack.callback(self.buildah.remove_all_containers)
        version = self.buildah.run("--version").strip()
        return f"{version}, storage {self.buildah.storage}, {free}"

    def _lock_cache(self) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        lock = self.stack.enter_context((self.cache / "lock").open("w"))
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckError(f"another image check is running on {self.cache}") from None

    def failure_log(self) -> Path | None:
        """The log that explains a failure: the step's own, else the server's once started."""
        if self.current_log is not None:
            return self.current_log
        return self.logs / "server.log" if self.container.process is not None else None

    def make_base(self) -> str:
        """The local base image, unless this recipe's is already in the storage."""
        if not self.args.rebuild_base and image_base.is_current(self.buildah, self.base):
            return f"{self.base} (cached, recipe {image_base.recipe_hash()})"
        self.buildah.remove_image(self.base)
        with self.log("base") as log:
            image_base.make_base(self.buildah, self.base, log)
        return f"{self.base} made, {self.buildah.image_size(self.base)}"

    def make_wheelhouse(self) -> str:
        """torch's CPU wheel and its dependencies as a local index, unless told to use the URL."""
        if self.args.torch_from_index:
            return f"skipped: the build uses TORCH_INDEX_URL={self.dockerfile['TORCH_INDEX_URL']}"
        with self.log("wheelhouse") as log:
            wheel = image_base.make_wheelhouse(
                self.cache / "wheelhouse", self.dockerfile["TORCH_VERSION"], log
            )
        return f"{wheel} and its dependencies in {self.cache / 'wheelhouse'}"

    def build_args(self) -> list[str]:
        """``buildah bud`` arguments: the real Dockerfile and target, the local inputs."""
        args = ["--isolation", "chroot", "--format", "docker", "--pull-never",
                "--target", TARGET, "--file", str(DOCKERFILE), "--tag", IMAGE]  # fmt: skip
        if not self.args.torch_from_index:
            wheelhouse = f"{self.cache / 'wheelhouse'}:{WHEELHOUSE_MOUNT}:ro"
            index = f"TORCH_INDEX_URL=file://{WHEELHOUSE_MOUNT}/simple"
            args += ["--volume", wheelhouse, "--build-arg", index]
        if HOST_CA_BUNDLE.is_file():
            args += ["--volume", f"{HOST_CA_BUNDLE}:{HOST_CA_BUNDLE}:ro"]
        if self.args.quick:
            args += ["--build-arg", "BUILD_DEFAULTS_ARGS=--quick"]
        return [*args, str(ROOT)]

    def build(self) -> str:
        """Build the target (replacing the previous check image) and read its config."""
        if self.args.reuse_image and self.buildah.image_exists(IMAGE):
            models = "the last build's models (--reuse-image)"
        else:
            self.buildah.remove_image(IMAGE)
            with self.log("build") as log:
                self.buildah.run("bud", *self.build_args(), log=log)
            models = "quick models (--quick)" if self.args.quick else "full models"
        self.config = image_config(self.buildah.inspect_image(IMAGE))
        return f"{IMAGE}: {self.buildah.image_size(IMAGE)}, {models}"

    def start(self) -> str:
        """A working container of the image, running its ENTRYPOINT + CMD on a free port."""
        assert self.config is not None
        if not self.config.command:
            raise CheckError("the image has neither ENTRYPOINT nor CMD")
        self.port = image_probe.free_port()
        # The container shares the host's network: listen on the loopback only.
        env = {"MMS_HOST": "127.0.0.1", "MMS_PORT": str(self.port)}
        self.container.create(IMAGE, env)
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.stack.enter_context((self.logs / "server.log").open("w"))
        self.stack.callback(self.container.kill)
        pid = self.container.start(self.config.command, log)
        command = " ".join(image_probe.cmdline(pid))
        return f"{json.dumps(self.config.command)} -> pid {pid}: {command}"

    def healthy(self) -> str:
        """The image's own HEALTHCHECK command, run inside the container, passes."""
        assert self.config is not None
        if self.config.healthcheck is None:
            raise CheckError("the image has no HEALTHCHECK")
        return self.container.wait_healthy(self.config.healthcheck)

    def runs_unprivileged(self) -> str:
        """The server process's every uid is the image user's, which is the Dockerfile's APP_UID."""
        assert self.config is not None
        expected = image_probe.passwd_uid(self.container.passwd, self.config.user)
        if expected == 0 or str(expected) != self.dockerfile["APP_UID"]:
            raise CheckError(f"image user {self.config.user!r} is uid {expected}, not APP_UID")
        pid = self.container.server_pid
        uids, gids = image_probe.process_ids(pid)
        if set(uids) != {expected}:
            raise CheckError(f"the server runs with uids {uids}, expected {expected}")
        return f"pid {pid}: uid {uids[0]} ({self.config.user}), gid {gids[0]}"

    def contents(self) -> str:
        """``import torch`` fails in the image (for the right reason); no build leftovers."""
        if self.container.leftovers:
            raise CheckError(f"the build left files in the image: {self.container.leftovers}")
        code, output = self.buildah.run_in(CONTAINER, ["python", "-c", "import torch"], 60)
        missing = "ModuleNotFoundError: No module named 'torch'"
        if code == 0 or missing not in output:
            raise CheckError(f"`import torch` in the image: exit {code}: {output[-300:]}")
        return f"python -c 'import torch': exit {code}, {missing}; /tmp and /root/.cache empty"

    def classify(self) -> str:
        """The sample photo through HTTP: status 200 and a cat label on top."""
        started = time.monotonic()
        labels = image_probe.classify(self.port, image_probe.photo_bytes())
        shown = ", ".join(f"{label} {score:.3f}" for label, score in labels)
        return f"chelsea.png -> {shown} ({(time.monotonic() - started) * 1000:.0f} ms)"

    def drain(self) -> str:
        """SIGTERM under in-flight requests; they finish, then the server and the container exit."""
        assert self.config is not None
        grace = float(self.config.env.get("MMS_GRACEFUL_TIMEOUT_S") or SERVICE_GRACEFUL_S)
        pid, photo = self.container.server_pid, image_probe.photo_bytes()
        result = image_probe.drain(self.port, pid, photo, IN_FLIGHT, grace + 10)
        code = self.container.wait(timeout_s=30)
        log = (self.logs / "server.log").read_text(errors="replace")
        if "Application shutdown complete" not in log:
            raise CheckError("the server exited without a complete shutdown (see server.log)")
        return (
            f"{self.config.stop_signal} with {IN_FLIGHT} requests in flight: listener closed "
            f"after {result.refused_after_s:.2f} s; answers {result.statuses} "
            f"({', '.join(sorted(set(result.labels)))}); server exited "
            f"{result.exited_after_s:.2f} s after the signal, after 'Application shutdown "
            f"complete'; buildah run exit status {code}"
        )

    def image_size(self) -> str:
        """The built image's size, for the summary."""
        return self.buildah.image_size(IMAGE)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="build the models with build-defaults --quick (CI)"
    )
    parser.add_argument("--rebuild-base", action="store_true", help="make the base image anew")
    parser.add_argument(
        "--torch-from-index",
        action="store_true",
        help="no wheelhouse: the build fetches torch from TORCH_INDEX_URL",
    )
    parser.add_argument(
        "--reuse-image", action="store_true", help="check the last built image again, no build"
    )
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "image-check")
    parser.add_argument("--verbose", action="store_true", help="stream the logs to stdout")
    return parser.parse_args(argv)


def _steps(check: ImageCheck) -> list[tuple[str, Callable[[], str]]]:
    return [
        ("preflight", check.preflight),
        ("base image", check.make_base),
        ("torch wheelhouse", check.make_wheelhouse),
        (f"build {TARGET}", check.build),
        ("start entrypoint", check.start),
        ("healthcheck", check.healthy),
        ("unprivileged user", check.runs_unprivileged),
        ("image contents", check.contents),
        ("classify a photo", check.classify),
        ("drain on SIGTERM", check.drain),
    ]


# What a failed step raises; anything else is a bug of the check, reported with its traceback.
FAILURES = (CheckError, BuildahError, ContainerError, image_base.BaseImageError,
            image_probe.ProbeError, OSError, subprocess.SubprocessError, ValueError)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run every step; 0 when all pass, 1 (with the log's end printed) at the first failure."""
    args = parse_args(argv)
    # CI's timeout or Ctrl-C: unwind, so the server is stopped and the container removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    steps = Steps()
    with ExitStack() as stack:
        check = ImageCheck(args, stack)
        try:
            for name, step in _steps(check):
                check.current_log = None
                steps.run(name, step)
        except FAILURES as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            log = check.failure_log()
            if log is not None:
                print(f"--- end of {log}:\n{tail(log)}", file=sys.stderr)
            steps.summary()
            return 1
        size = check.image_size()
    steps.summary()
    print(f"\nimage check passed: {IMAGE}, {size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
