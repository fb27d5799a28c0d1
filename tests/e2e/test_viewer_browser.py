"""The web viewer in a real browser (Debian's chromium, headless, driven by Playwright): it
loads with no console errors, draws the rig, and the skeleton moves between two screenshots.
Skipped, saying why, where chromium or Playwright is not installed."""

from __future__ import annotations

import math
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from syncpose.bus import free_port_block
from syncpose.config import ServerConfig
from syncpose.messages import PoseResult
from syncpose.server.app import create_app
from syncpose.server.hub import PoseHub, pose_json
from syncpose.server.metrics import Metrics
from syncpose.server.recording import RecordingStore
from syncpose.server.skeletons import LiveSkeletons
from syncpose.simulate import default_rig
from syncpose.skeleton import JOINTS, MOCAP

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def served(app: Any, port: int) -> Iterator[None]:
    """``app`` served by uvicorn on ``port`` in a thread for the duration."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def bare_app(tmp_path: Path) -> tuple[Any, int]:
    """An app with nothing fed to it, and the free port to serve it on."""
    port = free_port_block(1)
    settings = ServerConfig(port=port, recordings_dir=tmp_path / "rec")
    return create_app(settings, PoseHub(), RecordingStore(settings.recordings_dir), Metrics()), port


def new_page(pw: Any, errors: list[str], console: bool = True) -> tuple[Any, Any]:
    """Debian's chromium and a page of it whose script errors (and, with ``console``, console
    errors: a failed request among them) go to ``errors``."""
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    page = browser.new_page()
    if console:
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return browser, page


def moving_pose(k: int, people: int = 1) -> tuple[PoseResult, dict[str, Any]]:
    """``people`` copies of a motion-capture pose walking about, 1.2 m apart, ids 1, 2, …"""
    from syncpose.motion import load_motion

    clip = load_motion("bundled").clips[0]
    joints = MOCAP.apply(clip.positions[(k * 2) % len(clip.positions)])[0]
    joints[:, :2] -= joints[0, :2]
    joints[:, 0] += 0.8 * math.sin(k / 10.0)  # and walk about, so it visibly moves
    shift = np.array([0.0, 1.2, 0.0])
    everyone = np.stack([joints + (p - 0.5 * (people - 1)) * shift for p in range(people)])
    msg = PoseResult(
        bundle_seq=k, t_ref_ns=k * 33_333_333, calibration_id="x", joint_names=list(JOINTS),
        camera_ids=["cam0"], views_used=["cam0", "cam1"], method="denoiser",
        detector="synthetic", latency_ms={"total": 5.0},
        person_ids=list(range(1, people + 1)), people_views=[["cam0", "cam1"]] * people,
    )  # fmt: skip
    arrays = {
        "positions": everyone.astype(np.float32),
        "uncertainty": np.full((people, len(JOINTS)), 0.01, np.float32),
    }
    return msg, arrays


def _colour_pixels(png: bytes, rgb: tuple[int, int, int]) -> int:
    """Pixels of ``png`` within a few levels of ``rgb``."""
    import cv2

    image = np.asarray(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR))
    bgr = np.array(rgb[::-1], dtype=np.int16)
    return int((np.abs(image.astype(np.int16) - bgr).max(-1) <= 12).sum())


@contextmanager
def live_viewer(tmp_path: Path, people: int = 1) -> Iterator[int]:
    """A server with a 4-camera calibration fed 30 moving poses a second of ``people``, served
    on the port it yields."""
    port = free_port_block(1)
    settings = ServerConfig(port=port, recordings_dir=tmp_path / "rec")
    hub = PoseHub()
    app = create_app(
        settings, hub, RecordingStore(settings.recordings_dir), Metrics(),
        calibration=default_rig(4),
    )  # fmt: skip
    stop = threading.Event()
    skeletons = LiveSkeletons()  # as the server's bus listener adds them

    def feed() -> None:
        k = 0
        while not stop.is_set():
            msg, arrays = moving_pose(k, people)
            hub.on_pose(skeletons.add(pose_json(msg, arrays), msg, arrays))
            k += 1
            time.sleep(1 / 30)

    feeder = threading.Thread(target=feed, daemon=True)
    with served(app, port):
        feeder.start()
        try:
            yield port
        finally:
            stop.set()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_viewer_draws_two_people_each_in_their_colour(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    errors: list[str] = []
    with live_viewer(tmp_path, people=2) as port, sync_api.sync_playwright() as pw:
        browser, page = new_page(pw, errors)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("document.getElementById('scene').dataset.skeletons === '1,2'")
        shot = page.locator("#scene").screenshot()
        browser.close()
    assert errors == []
    # person 1's bones in amber, person 2's in blue (the viewer's palette), both on screen
    assert _colour_pixels(shot, (0xFF, 0xC8, 0x3C)) > 100
    assert _colour_pixels(shot, (0x3C, 0xC8, 0xFF)) > 100


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_viewer_shows_the_solved_skeleton_with_its_axes_when_asked(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    errors: list[str] = []
    axis_red = (0xFF, 0x40, 0x40)
    with live_viewer(tmp_path) as port, sync_api.sync_playwright() as pw:
        browser, page = new_page(pw, errors)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("document.getElementById('scene').dataset.skeletons === '1'")
        page.wait_for_timeout(200)
        off = page.locator("#scene").screenshot()
        assert page.locator("#scene").get_attribute("data-solved") == ""
        page.locator("#solved").check()
        page.wait_for_function("document.getElementById('scene').dataset.solved === '1'")
        on = page.locator("#scene").screenshot()
        browser.close()
    assert errors == []
    # The bones' x axes (red) appear only with the solved skeleton shown.
    before, after = _colour_pixels(off, axis_red), _colour_pixels(on, axis_red)
    assert before < 10 and after > before + 40, (before, after)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_viewer_loads_without_errors_and_the_skeleton_moves(tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    errors: list[str] = []
    with live_viewer(tmp_path) as port, sync_api.sync_playwright() as pw:
        browser, page = new_page(pw, errors)
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("Number(document.getElementById('scene').dataset.poses) > 5")
        canvas = page.locator("#scene")
        first = canvas.screenshot()
        page.wait_for_timeout(700)
        second = canvas.screenshot()
        status = page.locator("#status").inner_text()
        browser.close()
    assert errors == []
    assert status == "live"
    assert first != second, "the skeleton did not move"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_wizard_page_calibrates_the_shared_charuco_videos(tmp_path: Path) -> None:
    """The wizard's steps in the browser, on the real four-webcam ChArUco recording: board,
    videos, calibrate (with the review), accept; no console errors; a rig file is written."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    from tests.conftest import shared_file

    folder = shared_file("calibration/caliscope_4cam_charuco")
    app, port = bare_app(tmp_path)
    errors: list[str] = []
    with served(app, port), sync_api.sync_playwright() as pw:
        browser, page = new_page(pw, errors)
        page.goto(f"http://127.0.0.1:{port}/wizard")
        page.fill("input[name=columns]", "4")  # the shared recording's board: 4 x 5 squares
        page.fill("input[name=rows]", "5")
        page.fill("input[name=square_mm]", "54")  # of 54 mm
        page.check("input[name=inverted]")  # printed colour-inverted
        page.click("#start")
        page.wait_for_function("document.getElementById('step').textContent.includes('videos')")
        page.set_input_files("#videos", [str(folder / f"cam_{i}.mp4") for i in range(4)])
        page.click("#upload")
        page.wait_for_function("document.body.dataset.uploaded === '4'", timeout=60_000)
        page.click("#calibrate")
        page.wait_for_function(
            "document.getElementById('review').textContent.includes('board check')",
            timeout=120_000,
        )
        review = page.locator("#review").inner_text()
        page.click("#accept")
        page.wait_for_function(
            "document.getElementById('saved').textContent.includes('.toml')", timeout=30_000
        )
        browser.close()
    assert errors == [], errors
    assert "cam_0" in review and "cam_3" in review
    assert list((tmp_path / "calibrations").glob("*.toml"))


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_api_docs_render_offline_and_the_viewer_fits_the_window(tmp_path: Path) -> None:
    """``/docs`` draws its operations with nothing from the network (the browser is offline
    here: a CDN script would leave a white page), and the viewer's scene follows the window."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")
    app, port = bare_app(tmp_path)
    errors: list[str] = []
    with served(app, port), sync_api.sync_playwright() as pw:
        browser, page = new_page(pw, errors, console=False)  # no calibration: a 404
        page.goto(f"http://127.0.0.1:{port}/docs")
        page.wait_for_selector(".opblock", timeout=30_000)
        operations = page.locator(".opblock").count()
        widths = {}
        for viewport in (700, 1600):
            page.set_viewport_size({"width": viewport, "height": 900})
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.getElementById('recordings').textContent.length")
            widths[viewport] = page.evaluate("document.getElementById('scene').width")
        recordings = page.locator("#recordings").inner_text()
        browser.close()
    assert errors == []
    assert operations >= 15
    assert widths[700] <= 700 and widths[1600] > 1.5 * widths[700]
    assert "none yet" in recordings
