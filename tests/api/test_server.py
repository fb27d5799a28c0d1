"""The server's API under FastAPI's TestClient: every endpoint, the token, bad input with clear
4xx answers, the WebSocket stream (JSON and msgpack, a slow client), and a recording whose
process is killed midway that is still readable."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
from fastapi.testclient import TestClient

from syncpose.config import ServerConfig
from syncpose.messages import CameraSync, PoseResult, RigStatus, WorkerStatus
from syncpose.server.app import create_app
from syncpose.server.hub import PoseHub, pose_json
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore
from syncpose.simulate import default_rig
from syncpose.skeleton import JOINTS

TOKEN = "s3cret-token"


def pose(seq: int, people: int = 1) -> tuple[PoseResult, dict[str, Any]]:
    """Person 1 (and with ``people`` 2, person 4 beside them) at 0.1 * seq."""
    positions = np.full((people, len(JOINTS), 3), 0.1 * seq, dtype=np.float32)
    positions[:, 3] = np.nan
    positions[1:, :, 0] += 1.0
    ids = [1, 4][:people]
    msg = PoseResult(
        bundle_seq=seq, t_ref_ns=1_000_000_000 + seq * 33_333_333, calibration_id="abc",
        joint_names=list(JOINTS), camera_ids=["cam0", "cam1"], views_used=["cam0", "cam1"],
        person_ids=ids, people_views=[["cam0", "cam1"]] * people,
        method="denoiser", detector="synthetic", latency_ms={"detect": 3.0, "total": 9.0},
    )  # fmt: skip
    arrays = {
        "positions": positions,
        "uncertainty": np.full((people, len(JOINTS)), 0.01, np.float32),
    }
    return msg, arrays


class Rig:
    """An app with its parts, fed directly (the bus listener's job in a live rig)."""

    def __init__(self, tmp: Path, **settings: Any) -> None:
        self.settings = ServerConfig(recordings_dir=tmp / "rec", **settings)
        self.hub = PoseHub(ws_queue=self.settings.ws_queue)
        self.store = RecordingStore(self.settings.recordings_dir)
        self.metrics = Metrics()
        self.app = create_app(
            self.settings, self.hub, self.store, self.metrics,
            calibration=default_rig(2), rig_fps=30.0, rig_name="test",
        )  # fmt: skip

    def feed(self, seq: int, people: int = 1) -> dict[str, Any]:
        msg, arrays = pose(seq, people)
        data = pose_json(msg, arrays)
        self.hub.on_pose(data)
        self.metrics.on_pose(msg)
        self.store.add(data)
        return data


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def test_status_rig_and_pose_endpoints(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        assert client.get("/api/version").json()["schema_version"] == 2
        assert client.get("/api/pose/latest").status_code == 404
        rig.hub.on_rig(
            RigStatus(
                state="running", bundles=10, complete_bundles=9, skipped_ticks=0,
                cameras=[CameraSync(camera_id="cam0", state="ok", fps=30.0, frames=10, used=10,
                                    gaps=1, late=0, last_offset_ns=-4_200_000,
                                    mean_abs_offset_ns=5.0e6)],
                decode_errors=0, t_ns=0,
            )
        )  # fmt: skip
        rig.hub.on_worker(
            WorkerStatus(worker="capture:cam0", state="running", fps=30.0, frames=10,
                         dropped=1, t_ns=0, pid=1)
        )  # fmt: skip
        rig.feed(1)
        health = client.get("/api/health").json()
        assert health["poses"] == 1 and health["workers"] == {"capture:cam0": "running"}
        rig.hub.heard["capture:cam0"] -= 10.0  # ten seconds without a heartbeat
        assert client.get("/api/health").json()["workers"] == {"capture:cam0": "silent"}
        assert client.get("/api/cameras").json()[0]["worker_state"] == "silent"
        rig.hub.heard["capture:cam0"] += 10.0
        cams = client.get("/api/cameras").json()
        assert cams[0]["offset_ms"] == -4.2 and cams[0]["drops"] == 1
        assert cams[0]["worker_state"] == "running"
        latest = client.get("/api/pose/latest").json()
        (person,) = latest["people"]
        assert latest["bundle_seq"] == 1 and latest["person_ids"] == [1]
        assert person["id"] == 1 and person["positions"][3] is None
        assert person["positions"][0] == pytest.approx([0.1, 0.1, 0.1])
        rig.feed(2, people=2)
        latest = client.get("/api/pose/latest").json()
        assert [p["id"] for p in latest["people"]] == [1, 4]
        assert latest["people"][1]["positions"][0] == pytest.approx([1.2, 0.2, 0.2])
        calib = client.get("/api/calibration").json()
        assert len(calib["cameras"]) == 2 and calib["calibration_id"] == default_rig(2).id
        text = client.get("/metrics").text
        assert 'syncpose_stage_latency_seconds_count{stage="detect"} 2.0' in text  # two poses
        assert client.get("/openapi.json").json()["paths"]["/api/recordings"]


def test_recordings_lifecycle_and_exports(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        assert client.post("/api/recordings/stop").status_code == 409
        started = client.post("/api/recordings", json={"name": "squat-1"})
        assert started.status_code == 201
        rec_id = started.json()["id"]
        assert client.post("/api/recordings", json={"name": "x"}).status_code == 409
        for k in range(5):
            rig.feed(k)
        stopped = client.post("/api/recordings/stop").json()
        assert stopped["state"] == "stopped" and stopped["poses"] == 5
        assert [r["id"] for r in client.get("/api/recordings").json()] == [rec_id]
        assert client.get(f"/api/recordings/{rec_id}").json()["poses"] == 5
        for fmt in ("json", "csv", "npz", "trc", "c3d", "bvh"):
            got = client.get(f"/api/recordings/{rec_id}/download", params={"format": fmt})
            assert got.status_code == 200, fmt
            assert rec_id in got.headers["content-disposition"]
        with np.load(
            io.BytesIO(
                got.content
                if fmt == "npz"
                else client.get(
                    f"/api/recordings/{rec_id}/download", params={"format": "npz"}
                ).content
            )
        ) as z:
            assert z["positions"].shape == (5, 1, len(JOINTS), 3)  # fmt: skip
            assert z["person_ids"].tolist() == [1]
        # Restart: a new store on the same folder lists the recording.
        assert [r["id"] for r in RecordingStore(rig.settings.recordings_dir).recordings()] == [
            rec_id
        ]


def test_a_recording_of_two_people_exports_both(tmp_path: Path) -> None:
    import zipfile

    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        rec_id = client.post("/api/recordings", json={"name": "pair"}).json()["id"]
        for k in range(4):
            rig.feed(k, people=1 if k == 0 else 2)  # the second person from tick 1
        client.post("/api/recordings/stop")
        npz = client.get(f"/api/recordings/{rec_id}/download", params={"format": "npz"})
        with np.load(io.BytesIO(npz.content)) as z:
            assert z["positions"].shape == (4, 2, len(JOINTS), 3)
            assert z["person_ids"].tolist() == [1, 4]
            assert (
                np.isnan(z["positions"][0, 1]).all() and np.isfinite(z["positions"][1, 1, 0]).all()
            )
        trc = client.get(f"/api/recordings/{rec_id}/download", params={"format": "trc"})
        assert trc.status_code == 200 and trc.headers["content-disposition"].endswith('.zip"')
        names = zipfile.ZipFile(io.BytesIO(trc.content)).namelist()
        assert names == [f"{rec_id}_P1.trc", f"{rec_id}_P4.trc"]
        bvh = client.get(f"/api/recordings/{rec_id}/download", params={"format": "bvh"})
        assert bvh.status_code == 200 and bvh.headers["content-disposition"].endswith('.zip"')
        files = zipfile.ZipFile(io.BytesIO(bvh.content))
        assert files.namelist() == [f"{rec_id}_P1.bvh", f"{rec_id}_P4.bvh"]
        text = files.read(f"{rec_id}_P4.bvh").decode()
        assert text.startswith("HIERARCHY\nROOT Hips") and "Frames: 4\n" in text
        csv_rows = client.get(f"/api/recordings/{rec_id}/download", params={"format": "csv"})
        assert [r.split(",")[2] for r in csv_rows.text.splitlines()[1:]] == [
            "1", "1", "4", "1", "4", "1", "4"
        ]  # fmt: skip


def test_bad_input_gets_clear_4xx(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        missing = client.get("/api/recordings/20260101-000000-nope")
        assert missing.status_code == 404 and "no recording" in missing.json()["detail"]
        traversal = client.get("/api/recordings/..%2F..%2Fetc")
        assert traversal.status_code in (400, 404)
        bad = client.get("/api/recordings/a.b")
        assert bad.status_code == 400 and "invalid recording id" in bad.json()["detail"]
        assert client.post("/api/recordings", json={"name": "../evil"}).status_code == 422
        assert client.post("/api/recordings", json={"nme": "typo"}).status_code == 422
        fmt = client.get("/api/recordings/x/download", params={"format": "exe"})
        assert fmt.status_code == 422
        assert client.get("/api/nothing").status_code == 404


def test_oversize_bodies_are_refused(tmp_path: Path) -> None:
    rig = Rig(tmp_path, max_upload_mb=0.001)  # about 1 kB
    with TestClient(rig.app) as client:
        big = client.post("/api/recordings", content=b"x" * 5000,
                          headers={"Content-Type": "application/json"})  # fmt: skip
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        assert client.post("/api/recordings", json={"name": "small"}).status_code == 201


def test_token_guards_state_changes_and_websockets(tmp_path: Path) -> None:
    rig = Rig(tmp_path, token=TOKEN)
    with TestClient(rig.app) as client:
        assert client.get("/api/health").status_code == 200  # reading stays open
        denied = client.post("/api/recordings", json={})
        assert denied.status_code == 401 and "token" in denied.json()["detail"]
        wrong = client.post("/api/recordings", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert client.post("/api/recordings", json={}, headers=auth()).status_code == 201
        assert client.post("/api/recordings/stop").status_code == 401
        assert client.post("/api/recordings/stop", headers=auth()).status_code == 200
        from starlette.websockets import WebSocketDisconnect

        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("/ws/poses") as ws,
        ):
            ws.receive_json()
        assert closed.value.code == 1008
        with client.websocket_connect(f"/ws/poses?token={TOKEN}") as ws:
            _wait_clients(rig.hub, 1)
            rig.feed(7)
            assert ws.receive_json()["bundle_seq"] == 7


def _wait_clients(hub: PoseHub, n: int) -> None:
    deadline = time.monotonic() + 5.0
    while len(hub.clients) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(hub.clients) == n


def test_websocket_json_and_msgpack(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    with (
        TestClient(rig.app) as client,
        client.websocket_connect("/ws/poses") as text,
        client.websocket_connect("/ws/poses?format=msgpack") as binary,
    ):
        _wait_clients(rig.hub, 2)
        for k in range(5):
            rig.feed(k)
            assert text.receive_json()["bundle_seq"] == k
            got = msgpack.unpackb(binary.receive_bytes())
            assert got["bundle_seq"] == k and got["joint_names"] == list(JOINTS)
    assert not rig.hub.clients  # both unsubscribed on disconnect


def test_a_slow_client_gets_latest_only_and_never_holds_others_back() -> None:
    """The hub's fan-out on its event loop: a client whose sender is stuck (a slow network)
    has its queue cut to the newest pose; the others get every pose."""
    import asyncio

    async def run() -> tuple[list[int], Any, list[int]]:
        hub = PoseHub(ws_queue=4)
        hub.attach(asyncio.get_running_loop())
        reader, stuck = hub.subscribe(), hub.subscribe()
        seen = []
        for k in range(40):
            hub.on_pose({"bundle_seq": k})
            await asyncio.sleep(0)  # the fan-out runs on the loop
            seen.append((await reader.queue.get())["bundle_seq"])
        left = []
        while not stuck.queue.empty():
            left.append(stuck.queue.get_nowait()["bundle_seq"])
        return seen, stuck, left

    seen, stuck, left = asyncio.run(run())
    assert seen == list(range(40))
    assert stuck.latest_only and stuck.dropped >= 40 - 2 * 4
    assert left[-1] == 39 and len(left) <= 4


RECORDER = """
import sys, time
from pathlib import Path
from syncpose.server.recording import RecordingStore
store = RecordingStore(Path(sys.argv[1]))
store.start("crash")
k = 0
while True:
    store.add({"bundle_seq": k, "t_ref_ns": 10**9 + k * 33_333_333, "joint_names": ["a"],
               "people": [{"id": 1, "positions": [[0.0, 0.0, float(k)]], "uncertainty": [0.01],
                           "views_used": ["cam0", "cam1"]}],
               "views_used": ["cam0", "cam1"]})
    k += 1
    if k == 200:
        print("ready", flush=True)
    time.sleep(0.001)
"""


def test_recording_survives_a_killed_process(tmp_path: Path) -> None:
    root = tmp_path / "rec"
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(root)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # past at least one fsync
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    store = RecordingStore(root)
    (meta,) = store.recordings()
    assert meta["state"] == "interrupted" and meta["poses"] >= 200
    lines = store.read_lines(meta["id"])
    assert [x["bundle_seq"] for x in lines] == list(range(len(lines)))
    track = store.track(meta["id"], 30.0)
    assert track.positions.shape == (len(lines), 1, 1, 3)
    # A torn last line (a crash mid-write) is skipped, the rest still reads.
    with (root / meta["id"] / "poses.jsonl").open("a") as fh:
        fh.write('{"bundle_seq": 99999, "t_ref')
    assert len(store.read_lines(meta["id"])) == len(lines)
    json.loads((root / meta["id"] / "meta.json").read_text())  # never half-written


def preview_rig() -> Any:
    """Two synthetic cameras on free ports; previews 64 pixels wide, up to 30 a second."""
    from syncpose.bus import free_port_block
    from syncpose.configfile import parse_config

    return parse_config(
        "rig: {fps: 30}\ncameras:\n  - {id: cam0, source: {type: synthetic}}\n"
        "  - {id: cam1, source: {type: synthetic}}\n"
        f"bus: {{base_port: {free_port_block(6)}}}\n"
        "server: {preview_width: 64, preview_fps: 30}\n"
    )


def test_preview_frames_flow_only_while_watched(tmp_path: Path) -> None:
    """``/ws/preview`` over a real bus listener: while a client watches, the server takes the
    cameras' pixels and sends shrunk JPEG previews; without one it does not subscribe."""
    import base64

    import zmq

    from syncpose.bus import SocketTimeouts, publish_message, publisher
    from syncpose.messages import Frame, FrameHeader
    from syncpose.server.listener import BusListener

    rig = preview_rig()
    parts = Rig(tmp_path, preview_width=64, preview_fps=30)
    ctx: zmq.Context[Any] = zmq.Context()
    cam = publisher(ctx, rig.camera_endpoint(0), SocketTimeouts(), send_hwm=100)
    listener = BusListener(rig, parts.hub, parts.metrics, parts.store, ctx)
    listener.start()
    image = np.zeros((96, 128, 3), np.uint8)
    image[20:60, 30:90] = (0, 200, 255)
    try:
        time.sleep(0.3)
        assert not parts.hub.wants_previews
        with TestClient(parts.app) as client, client.websocket_connect("/ws/preview") as ws:
            _wait_clients_preview(parts.hub)
            got: dict[str, Any] = {}

            def publish_until_seen() -> None:
                for seq in range(200):
                    header = FrameHeader(camera_id="cam0", seq=seq, t_capture_ns=seq,
                                         width=128, height=96, encoding="raw")  # fmt: skip
                    publish_message(cam, Frame(header=header), image=image)
                    time.sleep(0.02)
                    if parts.hub.previews:
                        return

            publish_until_seen()
            got = ws.receive_json()
            assert got["camera_id"] == "cam0" and got["width"] == 64 and got["height"] == 48
            assert base64.b64decode(got["jpeg_base64"])[:2] == b"\xff\xd8"  # a JPEG
        deadline = time.monotonic() + 5
        while parts.hub.wants_previews and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not parts.hub.wants_previews
    finally:
        listener.stop()
        listener.join(5)
        cam.close()
        ctx.term()


def _wait_clients_preview(hub: PoseHub) -> None:
    deadline = time.monotonic() + 5.0
    while not hub.preview_clients and time.monotonic() < deadline:
        time.sleep(0.01)
    assert hub.preview_clients


def test_a_preview_carries_the_keypoints_of_the_pose_made_from_its_own_frame(
    tmp_path: Path,
) -> None:
    """The dots on a camera tile come from the pose made from that tile's frame (before: from
    whatever pose was latest, visibly off the figure)."""
    import zmq

    from syncpose.bus import SocketTimeouts, publish_message, publisher
    from syncpose.messages import Frame, FrameHeader
    from syncpose.server.listener import BusListener

    rig = preview_rig()
    parts = Rig(tmp_path, preview_width=64, preview_fps=30)
    ctx: zmq.Context[Any] = zmq.Context()
    cam = publisher(ctx, rig.camera_endpoint(0), SocketTimeouts(), send_hwm=100)
    poses = publisher(ctx, rig.inference_endpoint(), SocketTimeouts(), send_hwm=100)
    listener = BusListener(rig, parts.hub, parts.metrics, parts.store, ctx)
    listener.start()
    image = np.zeros((96, 128, 3), np.uint8)
    try:
        with TestClient(parts.app) as client, client.websocket_connect("/ws/preview") as ws:
            _wait_clients_preview(parts.hub)
            time.sleep(0.5)  # the listener subscribes to the pixels
            seen: dict[int, Any] = {}
            for seq in range(40):
                header = FrameHeader(camera_id="cam0", seq=seq, t_capture_ns=seq,
                                     width=128, height=96, encoding="raw")  # fmt: skip
                publish_message(cam, Frame(header=header), image=image)
                time.sleep(0.05)
                msg, arrays = pose(seq)
                kp = np.full((1, 2, len(JOINTS), 3), np.nan, np.float32)
                kp[0, 0, :, :] = [10.0 + seq, 20.0, 0.9]  # this frame's keypoints, cam0's row
                frame_msg = msg.model_copy(update={"frame_seqs": {"cam0": seq}})
                publish_message(poses, frame_msg, **arrays, keypoints_2d=kp)
                time.sleep(0.02)
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline and len([s for s in seen if seen[s]]) < 5:
                got = ws.receive_json()
                seen[got["seq"]] = [p["keypoints_2d"] for p in got["people"] if p["id"] == 1]
        assert all(len(k) <= 1 for k in seen.values())
        with_dots = {s: k[0] for s, k in seen.items() if k}
        assert len(with_dots) >= 5
        for seq, keypoints in with_dots.items():
            assert keypoints[0] == pytest.approx([(10.0 + seq) * 0.5, 10.0, 0.9], abs=1e-4)
    finally:
        listener.stop()
        listener.join(5)
        cam.close()
        poses.close()
        ctx.term()
