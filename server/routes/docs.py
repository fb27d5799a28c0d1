"""The interactive API docs, served from the package: Swagger UI at ``/docs`` and ReDoc at
``/redoc``, their files from the ``fastapi-offline`` wheel (Swagger UI 5, which reads the
OpenAPI 3.1 FastAPI writes). FastAPI's defaults load them from a CDN: a white page offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

#: The docs' script, style and icon files, mounted at ``/docs-assets``.
ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


def _page(request: Request) -> dict[str, Any]:
    """What both pages are told: where the schema is, and their title."""
    return {
        "openapi_url": request.app.openapi_url or "/openapi.json",
        "title": f"{request.app.title} — API",
    }


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        **_page(request),
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        **_page(request),
        redoc_js_url="/docs-assets/redoc.standalone.js",
        redoc_favicon_url="/docs-assets/favicon.png",
        with_google_fonts=False,
    )
