"""``syncpose bench faults``: a running rig hurt on purpose, and how long it takes to recover.

The synthetic rig (capture workers, aligner, inference worker, server) runs under the
supervisor, as ``syncpose run`` runs it; a client watches the server's pose stream. Each fault
is dealt to a live worker — found by its process title, as ``ps`` shows it — and the time until
poses flow again from every camera is measured:

* ``kill``: SIGKILL a worker (a crash); the supervisor restarts it after its back-off (1 s the
  first time);
* ``stop``: SIGSTOP a camera for a while (a frozen process); the others carry on without it,
  it is marked stale, and after SIGCONT it comes back on its own.

The integration tests (``tests/integration/test_faults.py``) use the same parts with generous
deadlines; the benchmark reports the measured times.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncpose.config import RigConfig
from syncpose.process import process_title


def worker_pid(name: str, parent: int | None = None) -> int | None:
    """The pid of the live process titled for worker ``name`` (``syncpose: capture cam0``),
    among the children of ``parent`` (default: this process)."""
    title = process_title(name).encode()
    parent = os.getpid() if parent is None else parent
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        except OSError:
            continue
        if int(stat[1]) == parent and stat[0] != "Z" and cmdline == title:
            return int(entry.name)
    return None


@dataclass
class PoseWatch:
    """What the server says: the count of poses and the newest one (``None`` while it does not
    answer)."""

    base_url: str
    token: str | None = None

    def latest(self) -> dict[str, Any] | None:
        """The newest pose, or None (no pose yet, or the server does not answer)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        request = urllib.request.Request(f"{self.base_url}/api/pose/latest", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=1) as r:
                pose: dict[str, Any] = json.loads(r.read())
        except (OSError, ValueError):
            return None
        return pose

    def wait_for_all_views(
        self, cameras: list[str], after_ns: int, timeout_s: float
    ) -> float | None:
        """Seconds until a pose of a tick after ``after_ns`` (the host's monotonic clock, which
        the aligner's ticks are on, whatever restarted) uses every camera; None on timeout."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout_s:
            pose = self.latest()
            fresh = pose is not None and pose["t_ref_ns"] > after_ns
            if fresh and pose is not None and set(cameras) <= set(pose.get("views_used", [])):
                return time.monotonic() - t0
            time.sleep(0.05)
        return None


@contextmanager
def running_rig(
    cameras: int = 2, fps: float = 30.0, size: tuple[int, int] = (320, 240)
) -> Iterator[tuple[RigConfig, PoseWatch]]:
    """The synthetic rig with inference and server, run as ``syncpose run`` runs it (in a
    thread of this process, so its workers are this process's children), until poses flow."""
    from syncpose.app.bench_e2e import e2e_rig
    from syncpose.app.rig import run_rig
    from syncpose.bus import free_port_block

    folder = Path(tempfile.mkdtemp(prefix="syncpose-faults-"))
    rig = e2e_rig(cameras, fps, free_port_block(cameras + 4), free_port_block(1), folder, size)
    stop = threading.Event()
    runner = threading.Thread(
        target=run_rig, kwargs={"rig": rig, "stop": stop, "log_level": "WARNING"}, daemon=True
    )
    runner.start()
    watch = PoseWatch(f"http://127.0.0.1:{rig.server.port}")
    try:
        if watch.wait_for_all_views(rig.camera_ids, 0, 120.0) is None:
            raise RuntimeError("the rig produced no poses within 120 s")
        yield rig, watch
    finally:
        stop.set()
        runner.join(60.0)
        shutil.rmtree(folder, ignore_errors=True)  # its recordings


def kill_and_time(rig: RigConfig, watch: PoseWatch, worker: str, timeout_s: float = 60.0) -> float:
    """SIGKILL ``worker``; seconds until poses flow again from every camera."""
    pid = worker_pid(worker)
    if pid is None:
        raise RuntimeError(f"no live process titled {process_title(worker)!r}")
    killed_at = time.monotonic_ns()
    os.kill(pid, signal.SIGKILL)
    took = watch.wait_for_all_views(rig.camera_ids, killed_at, timeout_s)
    if took is None:
        raise RuntimeError(f"poses did not resume within {timeout_s:g} s of killing {worker}")
    return took


def freeze_and_time(
    rig: RigConfig, watch: PoseWatch, camera: str, frozen_s: float = 3.0, timeout_s: float = 60.0
) -> dict[str, Any]:
    """SIGSTOP camera ``camera`` for ``frozen_s``: whether poses went on from the others
    meanwhile, and seconds from SIGCONT until it is back in the poses."""
    pid = worker_pid(f"capture:{camera}")
    if pid is None:
        raise RuntimeError(f"no live capture worker for {camera}")
    others = [c for c in rig.camera_ids if c != camera]
    os.kill(pid, signal.SIGSTOP)
    good: set[int] = set()  # ticks with a pose from the others
    with_frozen = 0  # poses that still used the frozen camera
    try:
        time.sleep(1.0)  # past the aligner's stale_after
        frozen_at = time.monotonic_ns()
        end = time.monotonic() + max(0.5, frozen_s - 1.0)
        while time.monotonic() < end:
            pose = watch.latest()
            if pose is not None and pose["t_ref_ns"] > frozen_at:
                views = set(pose.get("views_used", []))
                with_frozen += camera in views
                if pose.get("reason") is None and set(others) <= views:
                    good.add(pose["t_ref_ns"])
            time.sleep(0.1)
    finally:
        os.kill(pid, signal.SIGCONT)
        resumed_at = time.monotonic_ns()
    back = watch.wait_for_all_views(rig.camera_ids, resumed_at, timeout_s)
    return {
        "poses_from_the_others": len(good),
        "others_carried_on": len(good) >= 3,
        "frozen_camera_left_out": with_frozen == 0,
        "back_after_s": None if back is None else round(back, 2),
    }


def run_faults_bench(cameras: int = 4, fps: float = 30.0) -> dict[str, Any]:
    """Each fault once on the demo-sized rig (1280x720 cameras): measured recovery times."""
    report: dict[str, Any] = {"benchmark": "faults", "cameras": cameras, "fps": fps}
    with running_rig(cameras, fps, (1280, 720)) as (rig, watch):
        recovery = {}
        for worker in ("capture:cam1", "aligner", "inference", "server", "capture:cam1"):
            key = worker if worker not in recovery else f"{worker} (again)"
            recovery[key] = round(kill_and_time(rig, watch, worker), 2)
            time.sleep(2.0)
        report["kill_to_poses_from_every_camera_s"] = recovery
        report["sigstop_camera_3s"] = freeze_and_time(rig, watch, "cam1")
    report["machine_cpus"] = os.cpu_count()
    return report
