"""Where a model came from: code revision and package versions, for ``manifest.training``."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

# Ask git about this package's checkout, whatever the process's working directory is.
_REPO = Path(__file__).resolve().parent


def code_revision() -> str:
    """``git describe``-style revision of the working tree, or ``"unknown"`` outside git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=_REPO,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=_REPO,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if done.returncode != 0:
        return "uncommitted"
    return done.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def package_versions(*names: str) -> dict[str, str]:
    """Installed versions of the named distributions (``"missing"`` when not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions
