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
