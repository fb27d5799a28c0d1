"""The web pages: the live viewer and the calibration wizard (files shipped in the package, no
CDN; their scripts and styles are served from ``/static``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

#: The shipped page files.
STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The live viewer."""
    return FileResponse(STATIC / "index.html")


@router.get("/wizard")
def wizard_page() -> FileResponse:
    """The calibration wizard's page."""
    return FileResponse(STATIC / "wizard.html")
