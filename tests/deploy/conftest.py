"""Shared helpers of the deployment tests: paths, loading the docker/ scripts, tool lookup.

The docker/ scripts are not a package (the images copy them as loose files), so tests put
docker/ on ``sys.path`` for the duration of a test and import them by their file names.
"""

from __future__ import annotations

import importlib
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = ROOT / "docker"


@pytest.fixture
def docker_module(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Import a script of docker/ by module name (``entrypoint``, ``healthcheck``, ...)."""
    monkeypatch.syspath_prepend(str(DOCKER_DIR))

    def load(name: str) -> ModuleType:
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    return load


def require_tool(name: str, install: str) -> str:
    """Path of the executable ``name``, or skip the test saying how CI installs it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (CI installs it with: {install})")
    return path
