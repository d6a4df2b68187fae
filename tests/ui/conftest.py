"""Fixtures: a live service, headless Chromium (Debian's, driven by Playwright), screenshots."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import ROOT, live_server

CHROMIUM = os.environ.get("MMS_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SCREENSHOTS = ROOT / "bench-results" / "screenshots"  # gitignored


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(tmp_path_factory.mktemp("server") / "service.log") as url:
        yield url


@pytest.fixture(scope="session")
def samples() -> Path:
    skimage = pytest.importorskip("skimage")
    return Path(os.path.dirname(skimage.__file__)) / "data"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """The system Chromium (no browser download); the tests skip where it is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Any, server_url: str) -> Iterator[Any]:
    """``open_page(width=..., height=..., url=...)``: a fresh page; JS errors fail the test."""
    contexts, errors = [], []

    def factory(width: int = 1100, height: int = 900, url: str | None = None) -> Any:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)  # inference on a shared 2-core machine
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url or f"{server_url}/")
        page.wait_for_selector("body[data-ready=true]")
        return page

    yield factory
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under bench-results/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    return path
