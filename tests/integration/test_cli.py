"""The ``syncpose`` command as a user runs it: the demo rig starts, reports and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def session_processes(sid: int) -> list[int]:
    """Pids of live (non-zombie) processes in session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[3]) == sid and stat[0] != "Z":  # fields: state ppid pgrp session
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_demo_runs_and_stops_with_no_process_left(how: str, tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "syncpose", "demo"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def all_running(text: str) -> bool:
            lines = [ln for ln in text.splitlines() if "complete)" in ln]
            return bool(lines) and all(f"cam{i}: ok" in lines[-1] for i in range(4))

        deadline = time.monotonic() + 90  # start-up is slow on a loaded 2-core machine
        while time.monotonic() < deadline and not all_running(log.read_text()):
            time.sleep(0.2)
        text = log.read_text()
        assert "demo: 4 synthetic cameras" in text
        assert all_running(text), text[-2000:]
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        else:
            proc.send_signal(signal.SIGTERM)  # the launcher alone
        assert proc.wait(timeout=20) in (0, 130)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.5)
    assert session_processes(proc.pid) == []
    assert "stopped:" in log.read_text()


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncpose", *args],
        capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


def test_user_errors_end_in_one_line_never_a_traceback(tmp_path: Path) -> None:
    """Each of these printed a raw traceback (or started the work before failing)."""
    fake = tmp_path / "videos"
    fake.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (fake / name).write_text("not a video")
    calib = tmp_path / "rig.toml"
    calib.write_text("[cam_0]\nname = 'x'\n")
    cases = [
        (["board", "--charuco", "5x7", "--square-mm", "50", "--out", str(tmp_path / "b.pdf")],
         "does not fit on A4"),
        (["reconstruct", "--videos", str(fake), "--calibration", str(calib), "--fps", "30",
          "--out", str(tmp_path / "out.json")], "not a video OpenCV can read"),
        (["reconstruct", "--videos", str(fake), "--calibration", str(calib),
          "--out", str(tmp_path / "out.xyz")], "unknown pose format '.xyz'"),
    ]  # fmt: skip
    for args, expected in cases:
        proc = run_cli(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert expected in proc.stdout, (args, proc.stdout)
        assert "Traceback" not in proc.stdout + proc.stderr, args
    rig = tmp_path / "rig.yaml"
    rig.write_text(
        "rig: {name: r, fps: 30}\ncameras:\n  - {id: a, source: {type: synthetic}}\n"
        f"inference: {{calibration: {calib}}}\n"
    )
    proc = run_cli("validate-config", str(rig))
    assert proc.returncode == 1 and "inference.calibration:" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
    proc = run_cli("run", "--config", str(rig), "--seconds", "5")  # refused: nothing starts
    assert proc.returncode == 1 and "inference.calibration:" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
