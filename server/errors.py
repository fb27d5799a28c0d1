"""Error answers that say what was wrong without echoing what was sent: a validation error
names the field and the problem, never the (possibly huge) input."""

from __future__ import annotations

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

#: The most problems one answer lists.
MAX_PROBLEMS = 10


def add_error_handlers(app: FastAPI) -> None:
    """Install the handlers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "type": e.get("type"),
                "loc": list(e.get("loc", ()))[:8],
                "msg": str(e.get("msg"))[:200],
            }
            for e in exc.errors()[:MAX_PROBLEMS]
        ]
        return JSONResponse({"detail": problems}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
