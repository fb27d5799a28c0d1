"""The FastAPI app, composed by :func:`create_app` from injected parts (no module-level state).

REST under ``/api`` (health, version, cameras, latest pose, calibration, recordings, the
calibration wizard), Prometheus metrics on ``/metrics``, the pose and preview streams on the
WebSockets ``/ws/poses`` and ``/ws/preview``, and the web pages. The routes are one router per
resource (:mod:`syncpose.server.routes`); they share one typed
:class:`~syncpose.server.state.ServerState`. With a token configured, every state-changing
endpoint and the WebSockets require it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from syncpose import __version__
from syncpose.camera import Rig
from syncpose.config import ServerConfig
from syncpose.server.errors import add_error_handlers
from syncpose.server.hub import PoseHub
from syncpose.server.limits import RequestGuard
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore
from syncpose.server.routes import docs, pages, poses, recordings, rig, status, streams, wizard
from syncpose.server.state import ServerState
from syncpose.server.truth import SyntheticTruth

ROUTERS = (status, rig, poses, recordings, wizard, streams, pages, docs)


def create_app(
    settings: ServerConfig,
    hub: PoseHub,
    store: RecordingStore,
    metrics: Metrics,
    *,
    calibration: Rig | None = None,
    rig_fps: float = 30.0,
    rig_name: str = "rig",
    truth: SyntheticTruth | None = None,
) -> FastAPI:
    """The app for one rig."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.attach(asyncio.get_running_loop())  # poses reach the WebSockets on this loop
        yield

    app = FastAPI(
        title="syncpose",
        version=__version__,
        description="Real-time 3D human pose from weakly synchronised cameras.",
        lifespan=lifespan,
        docs_url=None,  # served from the package by routes.docs (no CDN: it works offline)
        redoc_url=None,
    )
    app.state.syncpose = ServerState(
        settings, hub, store, metrics, calibration, rig_fps, rig_name, truth
    )
    add_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(RequestGuard, settings=settings)  # outermost: before any body is read
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")
    app.mount("/docs-assets", StaticFiles(directory=docs.ASSETS), name="docs-assets")
    for module in ROUTERS:
        app.include_router(module.router)
    return app
