"""Liveness, version and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from syncpose import __version__
from syncpose.messages import SCHEMA_VERSION
from syncpose.server.schemas import Health, Version
from syncpose.server.state import State

router = APIRouter(tags=["status"])


@router.get("/api/health", response_model=Health)
def health(state: State) -> Health:
    """Liveness, pose count, each worker's state, the recording in progress."""
    return Health(
        status="ok",
        poses=state.hub.poses,
        workers=state.hub.worker_states(),
        recording=state.store.active_id,
    )


@router.get("/api/version", response_model=Version)
def version() -> Version:
    return Version(version=__version__, schema_version=SCHEMA_VERSION)


@router.get("/metrics")
def prometheus(state: State) -> Response:
    """Prometheus metrics: per-stage latency histograms, worker fps and drops."""
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")
