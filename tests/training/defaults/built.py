"""The built default models that the end-to-end tests read (``make models``; CI builds them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from contract import layout

MODELS_DIR = Path(os.environ.get("MMS_MODEL_DIR", Path(__file__).parents[3] / "models"))


def latest_version_dir(name: str) -> Path:
    """The highest version of ``name`` in ``MODELS_DIR`` (the one the service serves), or skip."""
    try:
        return layout.latest_version_dir(MODELS_DIR, name)
    except FileNotFoundError:
        pytest.skip(
            f"{MODELS_DIR / name} is not built; run `make models` (or `python -m training "
            f"build-defaults --only {name}`) first"
        )
