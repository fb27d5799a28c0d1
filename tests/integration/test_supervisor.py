"""The supervisor: a capture worker killed in the middle of a run is restarted (a new
process, reporting running again) while the other workers carry on."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import zmq

from syncpose.app.rig import run_rig
from syncpose.bus import free_port_block
from syncpose.capture.rig import RigWatcher
from syncpose.configfile import parse_config


def test_killed_worker_is_restarted_and_the_others_carry_on() -> None:
    base = free_port_block(6)
    rig = parse_config(
        "rig: {name: sup, fps: 30}\ncameras:\n"
        "  - {id: cam0, source: {type: synthetic, width: 320, height: 240}}\n"
        "  - {id: cam1, source: {type: synthetic, width: 320, height: 240}}\n"
        f"bus: {{base_port: {base}}}\ninference: {{enabled: false}}\n"
        "server: {enabled: false}\n"
    )
    stop = threading.Event()
    runner = threading.Thread(
        target=run_rig, kwargs={"rig": rig, "seconds": 60.0, "stop": stop, "log_level": "WARNING"}
    )
    ctx: zmq.Context[Any] = zmq.Context()
    watcher = RigWatcher(rig, ctx)
    runner.start()
    try:
        assert watcher.wait_until_running(["aligner", "capture:cam0", "capture:cam1"], 60.0)
        victim = watcher.workers["capture:cam1"].pid
        other = watcher.workers["capture:cam0"].pid
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            watcher.receive(100)
            status = watcher.workers["capture:cam1"]
            if status.pid != victim and status.state == "running":
                break
        else:
            raise AssertionError("the killed worker was not restarted")
        assert watcher.workers["capture:cam0"].pid == other  # untouched
        frames_before = watcher.workers["capture:cam1"].frames
        time.sleep(1.5)
        watcher.receive(100)
        assert watcher.workers["capture:cam1"].frames > frames_before  # it captures again
    finally:
        stop.set()
        runner.join(30.0)
        watcher.close()
        ctx.term()
    assert not runner.is_alive()
