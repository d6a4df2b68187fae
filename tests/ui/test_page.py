"""The web page in headless Chromium against a live service with the real default models.

Screenshots go to bench-results/screenshots/ (classify.png, rank.png, phone.png, gallery.png).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live_server import live_server
from tests.ui.conftest import screenshot

pytestmark = pytest.mark.e2e


def wait_until(page: Any, expression: str, timeout_s: float = 60.0) -> None:
    """Poll a JavaScript expression (``wait_for_function`` would need 'unsafe-eval' in the CSP)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.1)


def first_label(page: Any, selector: str) -> str:
    return str(page.locator(f"{selector} .bar .name").first.inner_text())


def test_a_photo_gets_every_heads_labels(open_page: Any, samples: Path) -> None:
    page = open_page()
    assert page.locator("#classify-model option[value=vision]").count() == 1
    page.set_input_files("#classify-file", str(samples / "coffee.png"))
    page.wait_for_selector(".head[data-head=imagenet] .bar")
    assert first_label(page, ".head[data-head=imagenet]") == "espresso"
    assert page.locator(".head[data-head=imagenet] .bar").count() == 5
    assert page.locator("#classify-preview").is_visible()
    screenshot(page, "classify.png")


# How many models the classify form listed at the moment the page said it was ready.
_RECORD_OPTIONS_AT_READY = """
new MutationObserver((changes, observer) => {
  if (document.body && document.body.dataset.ready === "true") {
    window.optionsAtReady = document.querySelectorAll("#classify-model option").length;
    observer.disconnect();
  }
}).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-ready"] });
"""


def test_the_page_is_ready_only_once_the_model_list_is_in(browser: Any, server_url: str) -> None:
    """A slow ``GET /v1/models`` (the first request of a busy service): "ready" waits for it."""
    page = browser.new_page()
    try:

        def slow(route: Any) -> None:
            time.sleep(1.0)
            route.continue_()

        page.route("**/v1/models", slow)
        page.add_init_script(_RECORD_OPTIONS_AT_READY)
        page.goto(f"{server_url}/")
        page.wait_for_selector("body[data-ready=true]", timeout=60_000)
        assert page.evaluate("window.optionsAtReady") >= 1  # vision, and the other image models
    finally:
        page.close()


def test_labels_are_ranked_against_a_photo(open_page: Any, samples: Path) -> None:
    page = open_page()
    page.click("a[data-tab=rank]")
    page.fill("#rank-labels", "a dog\na cup of coffee\na cat\na rocket launch")
    page.set_input_files("#rank-file", str(samples / "chelsea.png"))
    page.wait_for_selector("#rank-results .bar")
    assert first_label(page, "#rank-results") == "a cat"
    assert page.locator("#rank-results .bar").count() == 4
    screenshot(page, "rank.png")
    page.fill("#rank-labels", "a rocket launch\na cup of coffee")
    page.click("#rank-go")
    wait_until(page, "document.querySelectorAll('#rank-results .bar').length === 2")
    assert first_label(page, "#rank-results") == "a cup of coffee"


def test_a_text_file_posted_as_an_image_shows_the_services_message(
    open_page: Any, tmp_path: Path
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("this is not a photo")
    page = open_page()
    page.set_input_files("#classify-file", str(note))
    error = page.locator("#classify-error")
    error.wait_for(state="visible")
    assert "not an image the service reads" in error.inner_text()
    assert "unsupported_media_type" in error.inner_text() and "request" in error.inner_text()
    assert page.locator("#classify-results .bar").count() == 0


def test_the_models_page(open_page: Any) -> None:
    page = open_page()
    page.click("a[data-tab=models]")
    page.wait_for_selector(".card[data-model=vision]")
    vision = page.locator(".card[data-model=vision]").inner_text()
    assert "ready" in vision and "provider CPU" in vision and "imagenet" in vision
    assert "1000 labels" in vision and "space semantic" in vision
    assert "metrics" in page.locator(".card[data-model=text]").inner_text()


def test_the_api_key_is_stored_and_sent(open_page: Any, samples: Path) -> None:
    page = open_page()
    page.click("#key-summary")
    page.fill("#api-key", "s3cret")
    with page.expect_navigation():
        page.click("#key-form button[type=submit]")
    page.wait_for_selector("body[data-ready=true]")
    assert page.evaluate("localStorage.getItem('mapping-serve.api-key')") == "s3cret"
    with page.expect_request("**/v1/classify/upload") as request:
        page.set_input_files("#classify-file", str(samples / "coffee.png"))
    assert request.value.headers.get("x-api-key") == "s3cret"


def test_the_page_fits_a_phone(open_page: Any, samples: Path) -> None:
    page = open_page(width=390, height=844)
    page.set_input_files("#classify-file", str(samples / "chelsea.png"))
    page.wait_for_selector(".head .bar")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for tab in ("rank", "gallery", "models"):
        page.click(f"a[data-tab={tab}]")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, tab
    page.click("a[data-tab=classify]")
    screenshot(page, "phone.png")


def test_the_page_works_with_a_service_that_has_a_key(browser: Any, tmp_path: Path) -> None:
    with live_server(tmp_path / "service.log", MMS_API_KEY="s3cret") as url:
        page = browser.new_page()
        assert page.goto(f"{url}/ui/").status == 200
        page.wait_for_selector("body[data-ready=true]")
        page.click("#key-summary")
        page.fill("#api-key", "s3cret")
        with page.expect_navigation():
            page.click("#key-form button[type=submit]")
        page.click("a[data-tab=models]")
        page.wait_for_selector(".card[data-model=vision]")
        page.close()


@pytest.mark.gallery
def test_photos_are_added_to_a_collection_and_found_by_text(
    open_page: Any, server_url: str, samples: Path
) -> None:
    name = f"ui-{uuid.uuid4().hex[:8]}"
    page = open_page()
    page.click("a[data-tab=gallery]")
    page.fill("#gallery-new-name", name)
    page.click("#gallery-create button[type=submit]")
    wait_until(page, f"document.getElementById('gallery-collection').value === '{name}'")
    try:
        photos = [str(samples / p) for p in ("chelsea.png", "coffee.png", "rocket.jpg")]
        page.set_input_files("#gallery-add-files", photos)
        wait_until(page, "document.getElementById('gallery-status').textContent"
                               ".startsWith('Added 3 of 3')")  # fmt: skip
        page.fill("#gallery-query", "a cat")
        page.click("#gallery-search")
        page.wait_for_selector("#gallery-results .hit")
        first = page.locator("#gallery-results .hit").first
        assert first.get_attribute("data-name") == "chelsea.png"
        assert first.locator("img").get_attribute("src").startswith("data:image/jpeg;base64,")
        assert page.locator("#gallery-results .hit").count() == 3
        screenshot(page, "gallery.png")
        page.set_input_files("#gallery-search-file", str(samples / "coffee.png"))
        wait_until(page, "document.querySelector('#gallery-results .hit')"
                               ".dataset.name === 'coffee.png'")  # fmt: skip
    finally:
        httpx.delete(f"{server_url}/v1/collections/{name}")


@pytest.mark.gallery
def test_creating_a_collection_with_a_bad_name_shows_the_message(open_page: Any) -> None:
    page = open_page()
    page.click("a[data-tab=gallery]")
    page.fill("#gallery-new-name", "Bad Name!")
    page.click("#gallery-create button[type=submit]")
    page.locator("#gallery-error").wait_for(state="visible")
    assert "name" in page.locator("#gallery-error").inner_text()
