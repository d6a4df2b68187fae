"""No app a test builds touches ``data/gallery``: every test gets a gallery directory of its own.

An app opens its embedded gallery store (and takes the directory's lock) when its lifespan
starts; apps built from ``Settings()`` read ``MMS_GALLERY_DATA_DIR``. Apps of module- or
session-scoped fixtures get the session's directory, apps built in a test get the test's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

VARIABLE = "MMS_GALLERY_DATA_DIR"


@pytest.fixture(scope="session", autouse=True)
def _session_gallery_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    before = os.environ.get(VARIABLE)
    os.environ[VARIABLE] = str(tmp_path_factory.mktemp("gallery"))
    yield
    if before is None:
        os.environ.pop(VARIABLE, None)
    else:
        os.environ[VARIABLE] = before


@pytest.fixture(autouse=True)
def _gallery_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, str(tmp_path / "gallery"))
