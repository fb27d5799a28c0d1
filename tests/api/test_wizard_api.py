"""The calibration wizard over HTTP, on the shared real four-webcam ChArUco recording (skipped
when absent), and its bad input answered with clear 4xx errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from syncpose.calibration.rigfile import load_rig
from tests.api.test_server import TOKEN, Rig, auth
from tests.conftest import shared_file

BOARD = {
    "kind": "charuco", "columns": 4, "rows": 5, "square_m": 0.054, "marker_ratio": 0.75,
    "dictionary": "DICT_4X4_1000", "inverted": True,
}  # fmt: skip


def test_wizard_bad_input(tmp_path: Path) -> None:
    rig = Rig(tmp_path, token=TOKEN, max_upload_mb=0.01)
    with TestClient(rig.app) as client:
        idle = client.get("/api/wizard").json()  # no session yet
        assert idle["step"] == "none" and "start a session" in idle["missing"][0]
        assert client.post("/api/wizard/calibrate", headers=auth()).status_code == 409
        assert client.post("/api/wizard", json=BOARD).status_code == 401  # token
        bad_board = client.post("/api/wizard", json={**BOARD, "dictionary": "DICT_NOPE"},
                                headers=auth())  # fmt: skip
        assert bad_board.status_code == 409 and "DICT_NOPE" in bad_board.json()["detail"]
        assert (
            client.post("/api/wizard", json={**BOARD, "rows": 1}, headers=auth()).status_code == 422
        )
        assert client.post("/api/wizard", json=BOARD, headers=auth()).status_code == 200
        status = client.get("/api/wizard").json()
        assert status["step"] == "videos" and not status["ready"] and status["missing"]
        assert client.put(
            "/api/wizard/videos/..%2Fx", content=b"x", headers=auth()
        ).status_code in (400, 404)
        not_video = client.put("/api/wizard/videos/cam0", content=b"not a video", headers=auth())
        assert not_video.status_code == 422 and "cannot open" in not_video.json()["detail"]
        big = client.put("/api/wizard/videos/cam0", content=b"x" * 20_000, headers=auth())
        assert big.status_code == 413
        early = client.post("/api/wizard/calibrate", headers=auth())
        assert early.status_code == 409 and "at least two cameras" in early.json()["detail"]


def test_wizard_calibrates_the_real_recording(tmp_path: Path) -> None:
    folder = shared_file("calibration/caliscope_4cam_charuco")
    rig = Rig(tmp_path)
    with TestClient(rig.app) as client:
        assert client.post("/api/wizard", json=BOARD).status_code == 200
        for i in range(4):
            video = (folder / f"cam_{i}.mp4").read_bytes()
            got = client.put(f"/api/wizard/videos/cam_{i}", content=video)
            assert got.status_code == 200, got.text
            assert got.json()["board_frames"] > 10 and got.json()["size"] == [1280, 720]
        uploaded = client.get("/api/wizard").json()
        assert uploaded["ready"] and set(uploaded["cameras"]) == {f"cam_{i}" for i in range(4)}
        assert all(isinstance(c["coverage"], list) for c in uploaded["cameras"].values())
        done = client.post("/api/wizard/calibrate")
        assert done.status_code == 200, done.text
        review = done.json()
        assert review["step"] == "review", review["missing"]
        check = review["review"]["board_check"]  # as the calibrate command's test checks it
        assert check["rms_error_mm"] <= 1.0 and abs(check["mean_mm"] - 54.0) < 0.5
        assert set(review["review"]["rms_px"]) == {f"cam_{i}" for i in range(4)}
        saved = client.post("/api/wizard/accept", json={"name": "lab"})
        assert saved.status_code == 200, saved.text
        assert saved.json()["step"] == "done" and "[cam_0]" in saved.json()["toml"]
    solved = load_rig(tmp_path / saved.json()["saved"])
    reference = load_rig(folder / "camera_array.toml")
    assert solved.names == [f"cam_{i}" for i in range(4)]

    # Same camera spacing as the reference calibration (the world frames differ).
    def spacing(r: object) -> float:
        c = np.array([cam.centre for cam in r.cameras])  # type: ignore[attr-defined]
        return float(np.linalg.norm(c[0] - c[1]))

    assert abs(spacing(solved) - spacing(reference)) < 0.05
