"""Four synthetic capture processes and the aligner over real ZeroMQ sockets."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np
import pytest
import zmq

from syncpose.bus import free_port_block
from syncpose.capture.bench import wrap_ms
from syncpose.capture.rig import RigWatcher, capture_processes
from syncpose.clock import NS_PER_MS, NS_PER_S, monotonic_ns
from syncpose.config import RigConfig
from syncpose.messages import Bundle
from syncpose.process import ProcessGroup

OFFSETS_MS = [0.0, 7.0, 19.0, 26.5]
FPS = 30.0
PERIOD_MS = 1000.0 / FPS


def rig_config() -> RigConfig:
    return RigConfig.model_validate(
        {
            "rig": {"name": "it", "fps": FPS},
            "cameras": [
                {
                    "id": f"cam{i}",
                    "encoding": "raw",
                    "source": {
                        "type": "synthetic",
                        "width": 640,
                        "height": 360,
                        "clock_offset_ms": off,
                    },
                }
                for i, off in enumerate(OFFSETS_MS)
            ],
            "aligner": {"max_wait_ms": 10, "stale_after_ms": 300, "status_interval_ms": 200},
            "bus": {"base_port": free_port_block(5)},
        }
    )


def collect(watcher: RigWatcher, seconds: float) -> list[Bundle]:
    out: list[Bundle] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watcher.receive(20, lambda b, _t: out.append(b))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_four_cameras_offsets_dead_camera_and_clean_stop() -> None:
    rig = rig_config()
    group = ProcessGroup(capture_processes(rig, monotonic_ns() + 2 * NS_PER_S, "WARNING"))
    ctx: zmq.Context[Any] = zmq.Context()
    watcher = RigWatcher(rig, ctx)
    group.start()
    pids = group.pids()
    try:
        names = ["aligner"] + [f"capture:{c}" for c in rig.camera_ids]
        assert watcher.wait_until_running(names, timeout_s=60), watcher.workers
        collect(watcher, 1.5)  # let the aligner settle its tick phase
        bundles = collect(watcher, 3.0)
        assert len(bundles) >= 0.9 * 3.0 * FPS

        # δ_v against the cameras' known clock offsets (relative to cam0, modulo one period:
        # where the ticks sit is the aligner's choice), within 1 ms.
        complete = [b for b in bundles if not b.missing]
        assert len(complete) >= 0.9 * len(bundles)
        for i, cam in enumerate(rig.camera_ids):
            errors = []
            for b in complete:
                off = {
                    v.camera_id: v.offset_ns / NS_PER_MS for v in b.views if v.offset_ns is not None
                }
                errors.append(abs(wrap_ms(off[cam] - off["cam0"] - OFFSETS_MS[i], PERIOD_MS)))
            assert np.median(errors) <= 1.0, (cam, np.median(errors))
            # A camera process woken late by a busy scheduler stamps (truthfully) late: on a
            # loaded 2-core machine the tail reached 2.9 ms. A wrong offset would be off by
            # whole milliseconds at the median, or by a period.
            assert np.percentile(errors, 90) <= 5.0, (cam, np.percentile(errors, 90))
        assert all(abs(v.offset_ns or 0) <= rig.tolerance_ns() for b in bundles for v in b.views)

        # Kill one camera outright: the rig goes on without it, at full rate, and says so.
        os.kill(pids["capture:cam3"], signal.SIGKILL)
        collect(watcher, 0.6)  # > stale_after
        after = collect(watcher, 2.0)
        assert len(after) >= 0.9 * 2.0 * FPS
        assert all("cam3" in b.missing for b in after[5:])
        # The living cameras stay in (a loaded machine may make one miss an odd tick).
        others_present = [len(b.missing) == 1 for b in after[5:]]
        assert sum(others_present) >= 0.9 * len(others_present)
        seqs = [b.bundle_seq for b in after]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        status = watcher.rig_status
        assert status is not None and status.state == "degraded"
        assert {c.camera_id: c.state for c in status.cameras}["cam3"] == "stale"
    finally:
        watcher.close()
        codes = group.stop()
        ctx.term()
    assert codes["aligner"] == 0 and codes["capture:cam0"] == 0
    assert codes["capture:cam3"] == -signal.SIGKILL
    time.sleep(0.2)
    assert not [name for name, pid in pids.items() if alive(pid)]
