"""Fixtures: one live service for the client tests, and the sample photos."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import live_server


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``python -m service`` on the default vision and text models."""
    with live_server(tmp_path_factory.mktemp("server") / "service.log") as url:
        yield url


@pytest.fixture(scope="session")
def samples() -> Path:
    """scikit-image's sample photos (chelsea.png is a cat, coffee.png an espresso)."""
    skimage = pytest.importorskip("skimage")
    return Path(os.path.dirname(skimage.__file__)) / "data"
