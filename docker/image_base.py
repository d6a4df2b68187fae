"""The inputs of the image check that the host makes: the Python base image and a torch wheelhouse.

Base image. No container registry is reachable here, so ``python:3.11-slim-bookworm`` is made
locally: ``debootstrap --variant=minbase bookworm`` with Debian's Python 3.11, pip and venv,
adjusted where the Dockerfile relies on the official image (``python`` and ``pip`` on the PATH in
``/usr/local/bin``, pip allowed to install into the system Python, ``LANG=C.UTF-8``), and tagged
with the name the Dockerfile's ``FROM`` uses, so ``buildah bud --pull-never`` takes it. It is
made once per recipe: the image carries the recipe's hash as a label.

Wheelhouse. The training stage installs torch from ``TORCH_INDEX_URL`` (PyTorch's CPU index). A
machine that cannot reach that index gets the same CPU build from the host's pip instead
(``pip download``, which follows the host's pip configuration), as a PEP 503 index in a folder
that the build mounts read-only; the Dockerfile is unchanged and the index URL is a build argument.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import IO

from image_buildah import Buildah

SUITE = "bookworm"
PYTHON_VERSION = "3.11"  # Debian bookworm's python3
PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
# The official image's PATH and locale (docker-library/python, 3.11/slim-bookworm).
ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
}
# Where the official image has its interpreter and pip; Debian puts them in /usr/bin.
SHIMS = {"python": "python3", "python3": "python3", "pip": "pip3", "pip3": "pip3"}
# The trimmings of a slim image: package lists and caches, documentation, translations.
TRIM = ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man", "usr/share/locale")
RECIPE_LABEL = "mapping-serve.base-recipe"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"  # the torch CPU wheel's tag; bookworm has glibc 2.36


class BaseImageError(RuntimeError):
    """The local base image cannot stand in for the one the Dockerfile names."""


def recipe_hash() -> str:
    """A short hash of everything that shapes the base image; a change rebuilds it."""
    recipe = {"suite": SUITE, "packages": PACKAGES, "env": ENV, "shims": SHIMS, "trim": TRIM}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def image_reference(name: str) -> str:
    """What Docker resolves ``name`` to: ``python:3.11`` is ``docker.io/library/python:3.11``."""
    first, _, rest = name.partition("/")
    if not rest:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}"


def check_stands_in(reference: str) -> None:
    """Fail when the Dockerfile's base is not a Python this recipe makes (Debian's 3.11, bookworm).

    Raises:
        BaseImageError: the Dockerfile names another image, Python version or Debian release.
    """
    repository, _, tag = reference.rpartition(":")
    if repository != "docker.io/library/python" or not tag.startswith(f"{PYTHON_VERSION}-"):
        raise BaseImageError(f"{reference}: the local base is Python {PYTHON_VERSION} only")
    if SUITE not in tag:
        raise BaseImageError(f"{reference}: the local base is Debian {SUITE} only")


def is_current(buildah: Buildah, reference: str) -> bool:
    """True when ``reference`` exists and was made by this recipe."""
    if not buildah.image_exists(reference):
        return False
    labels = buildah.inspect_image(reference)["Docker"]["config"].get("Labels") or {}
    return bool(labels.get(RECIPE_LABEL) == recipe_hash())


def _slim_like_official(rootfs: Path) -> None:
    """The changes that make Debian's Python behave as the official image's where it matters."""
    (rootfs / f"usr/lib/python{PYTHON_VERSION}/EXTERNALLY-MANAGED").unlink(missing_ok=True)
    for name, target in SHIMS.items():
        (rootfs / "usr/local/bin" / name).symlink_to(f"/usr/bin/{target}")
    # buildah provides these at run time; debootstrap copied the host's, which must not ship.
    for path in ("etc/resolv.conf", "etc/hostname"):
        (rootfs / path).unlink(missing_ok=True)
    subprocess.run(
        ["rm", "-rf", *(str(rootfs / p) for p in (*TRIM, "dev", "proc", "sys"))], check=True
    )
    for path in (*TRIM, "dev", "proc", "sys"):
        (rootfs / path).mkdir(parents=True, exist_ok=True)


def _unmount_below(path: Path) -> None:
    """Lazily unmount what a failed debootstrap left mounted under ``path`` (proc, sys, ...)."""
    prefix = str(path.resolve()) + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)


def make_base(buildah: Buildah, reference: str, log: IO[str]) -> None:
    """debootstrap a rootfs in a fresh working container, adjust it, commit it as ``reference``."""
    container = buildah.run("from", "scratch").strip()
    try:
        rootfs = Path(buildah.run("mount", container).strip())
        done = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
        _unmount_below(rootfs)
        if done.returncode != 0:
            raise BaseImageError(f"debootstrap exited {done.returncode}; see {log.name}")
        _slim_like_official(rootfs)
        buildah.run("umount", container)
        config = [f"--env={k}={v}" for k, v in ENV.items()]
        label = f"{RECIPE_LABEL}={recipe_hash()}"
        buildah.run("config", *config, "--cmd", '["python3"]', "--label", label, container)
        buildah.run("commit", "--format", "docker", container, reference, log=log)
    finally:
        buildah.remove_container(container)


def normalized(name: str) -> str:
    """The PEP 503 form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def write_simple_index(folder: Path) -> dict[str, list[str]]:
    """Write ``folder/simple/<project>/index.html`` for the wheels in ``folder`` (PEP 503).

    Returns:
        Each project's wheel file names, by normalised project name.
    """
    projects: dict[str, list[str]] = {}
    for wheel in sorted(folder.glob("*.whl")):
        projects.setdefault(normalized(wheel.name.split("-")[0]), []).append(wheel.name)
    for project, wheels in projects.items():
        page = folder / "simple" / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        links = "".join(
            f'<a href="../../{urllib.parse.quote(w)}#sha256={_sha256(folder / w)}">'
            f"{html.escape(w)}</a>\n"
            for w in wheels
        )
        page.write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    return projects


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cpu_torch_wheel(wheels: list[str], version: str) -> str:
    """The one CPU build of torch ``version`` among ``wheels``.

    Raises:
        BaseImageError: none, or a CUDA build (several GB the build never uses).
    """
    builds = [w for w in wheels if w.startswith(f"torch-{version}")]
    cpu = [w for w in builds if w.startswith(f"torch-{version}+cpu-")]
    if len(cpu) != 1:
        raise BaseImageError(
            f"expected one CPU build of torch {version}, found {builds or 'none'}: point the "
            "host's pip at PyTorch's CPU index (the Dockerfile's TORCH_INDEX_URL), e.g. with "
            "PIP_EXTRA_INDEX_URL, or build with --torch-from-index"
        )
    return cpu[0]


def make_wheelhouse(folder: Path, torch_version: str, log: IO[str]) -> str:
    """``pip download`` torch and its dependencies for the image's Python into ``folder``.

    Returns:
        The torch wheel's file name.
    """
    folder.mkdir(parents=True, exist_ok=True)
    # For the image's Python and platform, whatever the host's are.
    target = ["--only-binary=:all:", "--python-version", PYTHON_VERSION,
              "--implementation", "cp", "--platform", WHEEL_PLATFORM]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", f"torch=={torch_version}", *target,
         "--dest", str(folder), "--progress-bar", "off"],
        stdout=log, stderr=subprocess.STDOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BaseImageError(f"pip download torch=={torch_version} failed; see {log.name}")
    projects = write_simple_index(folder)
    return cpu_torch_wheel(projects.get("torch", []), torch_version)
