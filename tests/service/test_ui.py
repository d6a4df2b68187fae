"""The web page's routes and files: served from the package, same origin only, no CDN.

The page's behaviour in a browser is tested in tests/ui (headless Chromium).
"""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from fastapi.testclient import TestClient

from service.api.ui import STATIC_DIR

ROOT = Path(__file__).resolve().parents[2]
STATIC_FILES = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())


def test_the_bare_address_and_ui_redirect_to_the_page(client: TestClient) -> None:
    for path in ("/", "/ui"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 307 and response.headers["location"] == "/ui/"
    page = client.get("/")
    assert page.status_code == 200 and "<title>mapping-serve</title>" in page.text


def test_the_page_forbids_other_origins(client: TestClient) -> None:
    response = client.get("/ui/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_file_the_page_loads_is_served_with_its_type(client: TestClient) -> None:
    types = {
        ".html": "text/html",
        ".js": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg",
    }
    for file in STATIC_FILES:
        response = client.get(f"/ui/{file.relative_to(STATIC_DIR).as_posix()}")
        assert response.status_code == 200, file
        assert response.headers["content-type"].startswith(types[file.suffix]), file
        assert response.content == file.read_bytes()


def test_the_page_references_only_its_own_files() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    local = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert [ref for ref in local if ref.startswith("..")] == ["../docs", "../v1/models"]
    for ref in (r for r in local if not r.startswith("..")):
        assert (STATIC_DIR / ref).is_file(), ref
    for script in STATIC_DIR.glob("js/*.js"):
        for module in re.findall(r'from "\./([^"]+)"', script.read_text()):
            assert (script.parent / module).is_file(), (script.name, module)
    for file in STATIC_FILES:
        text = file.read_text().replace(
            'xmlns="http://www.w3.org/2000/svg"', ""
        )  # a name, not a URL
        assert not re.search(r"https?://|//cdn|<script>|\son[a-z]+=", text), (
            file
        )  # no CDN, no inline JS


def test_unknown_and_escaping_paths_are_404_envelopes(client: TestClient) -> None:
    for path in ("/ui/nope.js", "/ui/%2e%2e/app.py", "/ui/..%2fapi%2fui.py", "/ui/js/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["type"] == "not_found"


def test_the_page_is_not_part_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/ui")]


def test_the_static_files_are_package_data() -> None:
    """The wheel (and so the Docker image) carries every file of the page."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["service"]
    package = ROOT / "service"
    covered = {p for pattern in patterns for p in package.glob(pattern)}
    assert set(STATIC_FILES) <= covered, set(STATIC_FILES) - covered
