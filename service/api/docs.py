"""Swagger UI served from the ``swagger_ui_bundle`` package, so ``/docs`` works offline.

The bundled Swagger UI (4.x) reads OpenAPI 3.0 only, so the page loads a 3.0 rendition of the
document (``/docs/openapi-3.0.json``); ``/openapi.json`` stays FastAPI's 3.1.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from service.api.openapi30 import downgrade

STATIC_PATH = "/static/swagger-ui"
OPENAPI_30_PATH = "/docs/openapi-3.0.json"

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI whose scripts and styles come from this server, not a CDN."""
    root = request.scope.get("root_path", "").rstrip("/")
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_30_PATH}",
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_PATH}/favicon-32x32.png",
    )


@router.get(OPENAPI_30_PATH)
async def openapi_30(request: Request) -> JSONResponse:
    """The OpenAPI document as 3.0, which the bundled Swagger UI (4.x) renders."""
    return JSONResponse(downgrade(request.app.openapi()))


@router.get("/docs/oauth2-redirect", response_class=HTMLResponse)
async def swagger_ui_redirect() -> HTMLResponse:
    """The OAuth2 redirect page Swagger UI expects."""
    return get_swagger_ui_oauth2_redirect_html()


def mount_swagger_assets(app: FastAPI) -> None:
    """Serve the bundled Swagger UI files under ``STATIC_PATH``."""
    app.mount(STATIC_PATH, StaticFiles(directory=Path(str(swagger_ui_path))), name="swagger-ui")
