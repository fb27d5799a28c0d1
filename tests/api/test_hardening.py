"""The server's boundaries under hostile input, each probe a regression test: bodies larger than
they say, unauthenticated bodies, cross-site requests, pose data without the token, ids with a
newline, temporary files left behind, error answers that echo megabytes, and docs that need a
CDN."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.api.test_server import TOKEN, Rig, auth

BOARD = {"kind": "charuco", "columns": 4, "rows": 5, "square_m": 0.054}


def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, bytes, int]:
    """One HTTP request straight into the ASGI app, its body in ``chunks`` whatever the headers
    say (what a client that lies about its length sends): (status, body, chunks read)."""
    sent: list[dict[str, Any]] = []
    reads = 0
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        nonlocal reads
        if not pending:
            return {"type": "http.disconnect"}
        reads += 1
        body = pending.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], body, reads


def test_the_body_limit_counts_the_bytes_received_not_the_headers(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_upload_mb=0.01)  # 10 kB
    chunks = [b"x" * 4096] * 20  # 80 kB behind a Content-Length of 10
    json_body = {"content-length": "10", "content-type": "application/json"}
    status, body, reads = asgi_call(rig.app, "POST", "/api/wizard", json_body, chunks)
    assert status == 413 and b"limit" in body
    assert reads <= 4  # it stopped reading at the limit
    status, _, reads = asgi_call(
        rig.app, "POST", "/api/wizard",
        {**json_body, "transfer-encoding": "chunked"}, chunks,
    )  # fmt: skip
    assert status == 400 and reads == 0  # both framings at once: refused unread


def test_a_state_change_without_the_token_is_refused_before_its_body_is_read(
    tmp_path: Path,
) -> None:
    rig = Rig(tmp_path, token=TOKEN, max_upload_mb=100)
    chunks = [b"{" + b" " * 65536] * 16  # a megabyte
    headers = {"content-length": str(16 * 65537), "content-type": "application/json"}
    status, _, reads = asgi_call(rig.app, "POST", "/api/wizard", headers, chunks)
    assert status == 401 and reads == 0


def test_error_answers_do_not_echo_what_was_sent(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        answer = client.post("/api/recordings", json={"name": "x" * 200_000})
        assert answer.status_code == 422
        assert len(answer.content) < 2000 and b"xxxxxxxx" not in answer.content
        answer = client.post("/api/wizard", json={**BOARD, "rows": "y" * 200_000})
        assert answer.status_code == 422 and len(answer.content) < 2000
        answer = client.get("/api/recordings/" + "z" * 5000)
        assert answer.status_code == 400 and len(answer.content) < 500


def test_pose_data_needs_the_token_when_one_is_set(tmp_path: Path) -> None:
    rig = Rig(tmp_path, token=TOKEN)
    with TestClient(rig.app) as client:
        rig.feed(1)
        for path in ("/api/pose/latest", "/api/calibration", "/api/recordings"):
            assert client.get(path).status_code == 401, path
            assert client.get(path, headers=auth()).status_code == 200, path
            assert client.get(f"{path}?token={TOKEN}").status_code == 200, path
            assert client.get(f"{path}?token=wrong").status_code == 401, path
        rec = client.post("/api/recordings", json={}, headers=auth()).json()["id"]
        rig.feed(2)
        client.post("/api/recordings/stop", headers=auth())
        link = f"/api/recordings/{rec}/download?format=csv"
        assert client.get(link).status_code == 401
        assert client.get(f"{link}&token={TOKEN}").status_code == 200  # a link needs no header
        for path in ("/api/health", "/api/version", "/api/cameras", "/metrics", "/"):
            assert client.get(path).status_code == 200, path  # no pose data: open


def test_cross_site_requests_are_refused(tmp_path: Path) -> None:
    """Without a token (the default), a page of another site must not start a recording in a
    browser that can reach the server, nor read the pose stream."""
    rig = Rig(tmp_path)
    evil = {"Origin": "http://evil.example"}
    with TestClient(rig.app) as client:
        assert client.post("/api/recordings", headers=evil).status_code == 403
        assert client.post("/api/recordings", content=b"", headers={
            "Content-Type": "text/plain"}).status_code == 415  # fmt: skip
        same = {"Origin": "http://testserver"}  # the viewer itself
        assert client.post("/api/recordings", json={}, headers=same).status_code == 201
        assert client.post("/api/recordings/stop").status_code == 200  # not a browser: no Origin
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/ws/poses", headers=evil) as ws,
        ):
            ws.receive_json()
        assert closed.value.code == 1008 and "Origin" in (closed.value.reason or "")
    allowed = Rig(tmp_path / "b", cors_origins=["http://evil.example"])
    with TestClient(allowed.app) as client:
        assert client.post("/api/recordings", json={}, headers=evil).status_code == 201


def test_ids_are_matched_whole(tmp_path: Path) -> None:
    rig = Rig(tmp_path, token=TOKEN)
    with TestClient(rig.app) as client:
        assert client.post("/api/wizard", json=BOARD, headers=auth()).status_code == 200
        put = client.put("/api/wizard/videos/cam0%0A", content=b"x", headers=auth())
        assert put.status_code == 400  # was accepted, and wrote a file named "cam0\n.video"
        assert client.get("/api/recordings/abc%0A", headers=auth()).status_code == 400


def test_the_wizard_leaves_no_files_and_names_no_server_path(tmp_path: Path) -> None:
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("syncpose-wizard-*"))
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        for _ in range(3):  # a new session each time
            assert client.post("/api/wizard", json=BOARD).status_code == 200
            bad = client.put("/api/wizard/videos/cam0", content=b"not a video")
            assert bad.status_code == 422
            detail = bad.json()["detail"]
            assert "camera cam0" in detail and str(tmp) not in detail and "syncpose-" not in detail
    assert set(tmp.glob("syncpose-wizard-*")) == before


def test_the_api_docs_are_served_from_the_package(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        page = client.get("/docs").text
        assert "/docs-assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
        script = client.get("/docs-assets/swagger-ui-bundle.js")
        assert script.status_code == 200 and len(script.content) > 100_000
        assert client.get("/docs-assets/swagger-ui.css").status_code == 200
        redoc = client.get("/redoc").text
        assert "/docs-assets/redoc.standalone.js" in redoc and "fonts.googleapis" not in redoc
        assert client.get("/docs-assets/redoc.standalone.js").status_code == 200


def test_a_refused_websocket_is_closed_with_1008_over_a_real_server(tmp_path: Path) -> None:
    """Through uvicorn (the TestClient cannot tell): a WebSocket without the token is
    accepted, then closed with code 1008 and the reason, as the README says (before, a real
    server answered the handshake with HTTP 403 and the client saw no reason)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from syncpose.bus import free_port_block
    from tests.e2e.test_viewer_browser import served

    rig = Rig(tmp_path, token=TOKEN)
    port = free_port_block(1)
    with (
        served(rig.app, port),
        connect(f"ws://127.0.0.1:{port}/ws/poses") as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "token" in closed.value.rcvd.reason
