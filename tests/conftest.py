"""Every test gets its own gallery directory, so no app a test builds touches ``data/gallery``.

An app opens its embedded gallery store (and takes the directory's lock) when its lifespan
starts; apps built from ``Settings()`` read ``MMS_GALLERY_DATA_DIR``, set here per test.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _gallery_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMS_GALLERY_DATA_DIR", str(tmp_path / "gallery"))
