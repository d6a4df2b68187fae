"""The web page: ``/ui/`` serves the static files of ``service/ui/static`` (``/`` redirects there).

Plain HTML, CSS and JavaScript modules shipped as package data: no CDN, no build step. The page
talks to the public API of the same origin only, which its Content-Security-Policy enforces.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse
from starlette.exceptions import HTTPException

STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Same origin only; images may also be data: URIs (stored thumbnails) and blob: URLs (previews).
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",  # revalidate, so a new release's page is picked up at once
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root(request: Request) -> RedirectResponse:
    """Send a visitor of the bare address to the web page."""
    return RedirectResponse(f"{_root(request)}/ui/", status_code=307)


@router.get("/ui")
async def ui_no_slash(request: Request) -> RedirectResponse:
    """``/ui`` -> ``/ui/``, so the page's relative links resolve under it."""
    return RedirectResponse(f"{_root(request)}/ui/", status_code=307)


@router.get("/ui/{path:path}")
async def ui_file(path: str) -> FileResponse:
    """A file of the web page (``index.html`` for ``/ui/``)."""
    target = (STATIC_DIR / (path or "index.html")).resolve()
    media_type = _MEDIA_TYPES.get(target.suffix)
    if media_type is None or not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise HTTPException(404, f"no file {path!r} in the web page")
    return FileResponse(target, media_type=media_type, headers=_HEADERS)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")
