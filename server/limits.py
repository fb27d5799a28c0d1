"""The request-body limit: bodies over ``max_upload_mb`` are refused (413) before they are read,
and chunked bodies (whose length is not known in advance) are refused (411)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response, status
from fastapi.responses import JSONResponse


def limit_request_bodies(app: FastAPI, max_mb: float) -> None:
    """Install the limit on ``app``."""
    limit = int(max_mb * 1024 * 1024)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return JSONResponse(
                {"detail": f"request body over the {max_mb:g} MB limit"},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            )
        if length is None and request.headers.get("transfer-encoding", "").lower() == "chunked":
            return JSONResponse(
                {"detail": "chunked request bodies are not accepted; send Content-Length"},
                status_code=status.HTTP_411_LENGTH_REQUIRED,
            )
        return await call_next(request)
