"""The WebSocket streams: every pose (JSON or msgpack) and the cameras' preview frames. The
token, when one is configured, comes as ``?token=``; a browser page of another site (its
``Origin`` neither this server nor one of ``cors_origins``) is refused too. A refused client
sees the connection accepted, then closed with code 1008 and the reason."""

from __future__ import annotations

from typing import Literal

import msgpack  # type: ignore[import-untyped]
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status

from syncpose.server.auth import origin_allowed
from syncpose.server.state import State

router = APIRouter()


async def _stream(
    ws: WebSocket, state: State, token: str | None, *, previews: bool, binary: bool
) -> None:
    """Check the token, then send every item the hub queues for this client until it
    disconnects (as msgpack bytes with ``binary``, else JSON text)."""
    refusal = None
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), state.settings):
        refusal = "cross-site connection refused (Origin not allowed; see server.cors_origins)"
    elif not state.token_ok(token):
        refusal = "missing or wrong token (?token=)"
    await ws.accept()
    if refusal is not None:
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason=refusal)
        return
    client = state.hub.subscribe(previews=previews)
    try:
        while True:
            item = await client.queue.get()
            if binary:
                await ws.send_bytes(msgpack.packb(item))
            else:
                await ws.send_json(item)
    except WebSocketDisconnect:
        pass
    finally:
        state.hub.unsubscribe(client)


@router.websocket("/ws/poses")
async def ws_poses(
    ws: WebSocket,
    state: State,
    token: str | None = None,
    format: Literal["json", "msgpack"] = "json",
) -> None:
    """Every pose as JSON text (or msgpack binary with ``?format=msgpack``)."""
    await _stream(ws, state, token, previews=False, binary=format == "msgpack")


@router.websocket("/ws/preview")
async def ws_preview(ws: WebSocket, state: State, token: str | None = None) -> None:
    """Per-camera preview frames (JSON: camera_id, seq, width, height, jpeg_base64, and
    the 2D keypoints the latest pose used from that camera), at most ``preview_fps`` per
    camera; frames are only received from the cameras while someone watches."""
    await _stream(ws, state, token, previews=True, binary=False)
