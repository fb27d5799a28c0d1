"""``syncpose demo`` end to end: the real processes, the real server, a WebSocket client.

500 poses (a whole back-and-forth of the demo's motion) arrive over ``/ws/poses``; judged
against the synthetic rig's ground truth (``/api/demo/truth``) they beat the plain-DLT baseline
computed from the very same 2D keypoints; Ctrl-C then leaves no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from websockets.sync.client import connect

from syncpose.bus import free_port_block
from syncpose.calibration.triangulate import triangulate
from syncpose.camera import Camera, Rig
from syncpose.inference.baselines import reject_px
from tests.integration.test_cli import session_processes

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def no_process_left(sid: int, timeout_s: float = 10.0) -> bool:
    """Whether session ``sid`` empties within ``timeout_s`` (children are reaped a moment after
    the launcher returns)."""
    deadline = time.monotonic() + timeout_s
    while session_processes(sid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return session_processes(sid) == []


@contextmanager
def running_demo(tmp_path: Path, *args: str) -> Iterator[tuple[str, int, subprocess.Popen[str]]]:
    """``syncpose demo *args`` on free ports, stopped with Ctrl-C (then killed) at the end:
    yields the server's base URL, its port and the process."""
    port = free_port_block(1)
    bus = free_port_block(8)
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncpose", "demo", *args, "--port", str(port),
         "--bus-port", str(bus), "--recordings", str(tmp_path / "rec")],
        cwd=ROOT, stdout=(tmp_path / "demo.log").open("w"), stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", port, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_for_poses(base: str, proc: subprocess.Popen[str], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo exited early"
        try:
            if get(f"{base}/api/health")["poses"] > 0:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError("no pose within the time limit")


@pytest.mark.slow
def test_demo_streams_poses_better_than_dlt_and_stops_clean(tmp_path: Path) -> None:
    with running_demo(tmp_path, "--seconds", "180") as (base, port, proc):
        wait_for_poses(base, proc)
        calib = get(f"{base}/api/calibration")
        rig = Rig(
            tuple(
                Camera(c["name"], tuple(c["size"]), np.array(c["matrix"]),
                       np.array(c["distortions"]), np.array(c["rotation"]),
                       np.array(c["translation"]))
                for c in calib["cameras"]
            )
        )  # fmt: skip
        poses: list[dict[str, Any]] = []
        with connect(f"ws://127.0.0.1:{port}/ws/poses") as ws:
            while len(poses) < 500:  # one whole back-and-forth of the bundled clip
                poses.append(json.loads(ws.recv(timeout=10)))
        errors: dict[str, list[float]] = {"demo": [], "dlt": []}
        for pose in poses[5:]:
            if not pose["people"]:
                continue
            (person,) = pose["people"]  # one person in the demo scene, one followed
            truth = np.array(get(f"{base}/api/demo/truth?t_ns={pose['t_ref_ns']}")["positions"])
            ours = np.array([[np.nan] * 3 if p is None else p for p in person["positions"]])
            kp = np.array(
                [
                    [[np.nan] * 3 if j is None else j for j in view]
                    for view in person["keypoints_2d"]
                ]
            )
            dlt = triangulate(rig, kp[..., :2], np.nan_to_num(kp[..., 2]),
                              max_error_px=reject_px(rig)).points  # fmt: skip
            both = np.isfinite(ours).all(1) & np.isfinite(dlt).all(1)
            errors["demo"] += list(np.linalg.norm(ours[both] - truth[both], axis=1))
            errors["dlt"] += list(np.linalg.norm(dlt[both] - truth[both], axis=1))
        mpjpe = {k: 1000 * float(np.mean(v)) for k, v in errors.items()}
        assert len(errors["demo"]) > 100 * 10, "too few joints compared"
        assert mpjpe["demo"] < mpjpe["dlt"], mpjpe
        assert mpjpe["demo"] < 30.0, mpjpe
    assert proc.returncode in (0, 130)
    assert no_process_left(proc.pid)


@pytest.mark.slow
def test_demo_with_two_people_streams_both_with_steady_ids(tmp_path: Path) -> None:
    """``syncpose demo --people 2``: two simulated people walking paths that cross; the stream
    carries both, each keeping its id, never one body made of the two."""
    with running_demo(tmp_path, "--people", "2", "--seconds", "120") as (base, port, proc):
        wait_for_poses(base, proc)
        time.sleep(5.0)  # every camera up and both people confirmed
        poses: list[dict[str, Any]] = []
        with connect(f"ws://127.0.0.1:{port}/ws/poses") as ws:
            while len(poses) < 150:
                poses.append(json.loads(ws.recv(timeout=10)))
        both = [p for p in poses if len(p["people"]) == 2]
        assert len(both) > 0.5 * len(poses)  # (a loaded machine drops bundles; people go)
        ids = {tuple(p["person_ids"]) for p in both}
        # the same two ids (a loaded machine that drops a run of bundles may lose one person
        # once: they come back under a new id)
        assert len(ids) <= 2, ids
        for pose in both:
            pelvis = [np.array(person["positions"][0] or [np.nan] * 3) for person in pose["people"]]
            gap = float(np.linalg.norm(pelvis[0] - pelvis[1]))
            assert not gap < 0.3, gap  # two bodies, never one made of both
    assert no_process_left(proc.pid)


@pytest.mark.slow
def test_demo_on_replayed_real_video(tmp_path: Path) -> None:
    """``syncpose demo --video DIR --calibration RIG``: two cameras of the shared real recording
    replayed as a live 15 fps rig (decoding four 1080x1920 60 fps files in real time alone would
    fill this 2-core machine), MediaPipe on every view, a real person's pose over the API."""
    from tests.conftest import shared_file

    base_dir = shared_file("video/pose2sim_single")
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("cam01.mp4", "cam02.mp4"):
        (videos / name).symlink_to(base_dir / "videos" / name)
    args = ["--video", str(videos), "--calibration", str(base_dir / "Calib_qualisys.toml"),
            "--frame-step", "4", "--seconds", "120"]  # fmt: skip
    with running_demo(tmp_path, *args) as (base, _, proc):
        wait_for_poses(base, proc)
        deadline = time.monotonic() + 30
        pose: dict[str, Any] = {}
        while time.monotonic() < deadline:
            pose = get(f"{base}/api/pose/latest")
            if pose["reason"] is None and len(pose["views_used"]) == 2:
                break
            time.sleep(0.2)
        assert pose["detector"] == "mediapipe-blazepose-full"
        assert pose["views_used"] == ["cam01", "cam02"], pose.get("reason")
        known = [p for p in pose["people"][0]["positions"] if p is not None]
        assert len(known) >= 12
        heights = [p[2] for p in known]  # a standing person, metres above the lab floor
        assert 1.0 < max(heights) - min(heights) < 2.2
    assert no_process_left(proc.pid)
