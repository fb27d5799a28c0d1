"""Worker processes are named for ``ps`` and ``top``: ``syncpose: capture cam0``, not the
interpreter's ``python -c from multiprocessing.spawn import spawn_main …``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from syncpose.bus import free_port_block
from syncpose.capture.rig import capture_processes
from syncpose.clock import NS_PER_S, monotonic_ns
from syncpose.configfile import parse_config
from syncpose.process import ProcessGroup


def cmdline(pid: int) -> str:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_show_their_role_in_ps() -> None:
    rig = parse_config(
        "rig: {name: titles, fps: 15}\ncameras:\n"
        "  - {id: cam0, source: {type: synthetic, width: 160, height: 120}}\n"
        f"bus: {{base_port: {free_port_block(4)}}}\n"
        "inference: {enabled: false}\nserver: {enabled: false}\n"
    )
    group = ProcessGroup(capture_processes(rig, monotonic_ns() + NS_PER_S, "WARNING"))
    group.start()
    try:
        expected = {"aligner": "syncpose: aligner", "capture:cam0": "syncpose: capture cam0"}
        deadline = time.monotonic() + 60.0
        titles: dict[str, str] = {}
        while time.monotonic() < deadline:
            titles = {name: cmdline(pid) for name, pid in group.pids().items()}
            if all(titles.get(n) == t for n, t in expected.items()):
                break
            time.sleep(0.1)
        assert titles == expected
    finally:
        group.stop()
