"""Fault injection on real processes and sockets: hostile messages, floods, taken ports and dead
or frozen workers. Each test asserts that the rig keeps (or gets back to) doing its job, and
what it reports; none asserts a timing beyond generous deadlines."""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import zmq

from syncpose.bus import free_port_block
from syncpose.capture.rig import RigWatcher, capture_processes
from syncpose.clock import NS_PER_S, monotonic_ns
from syncpose.config import RigConfig
from syncpose.configfile import parse_config
from syncpose.messages import SCHEMA_VERSION, ClockRequest, encode
from syncpose.process import ProcessGroup


def rig_text(
    name: str = "faults", cameras: int = 1, base_port: int | None = None, **sections: str
) -> str:
    """A synthetic rig of tiny cameras, capture and aligner only (no inference, no server,
    unless ``sections`` say otherwise), as YAML."""
    sections = {"inference": "{enabled: false}", "server": "{enabled: false}", **sections}
    cams = "".join(
        f"  - {{id: cam{i}, source: {{type: synthetic, width: 160, height: 120, seed: {i}}}}}\n"
        for i in range(cameras)
    )
    extra = "".join(f"{key}: {value}\n" for key, value in sections.items())
    base = free_port_block(cameras + 4) if base_port is None else base_port
    return (
        f"rig: {{name: {name}, fps: 30}}\ncameras:\n{cams}bus: {{base_port: {base}}}\n"
        f"aligner: {{status_interval_ms: 200}}\n{extra}"
    )


def small_rig(cameras: int = 1, inference: str = "{enabled: false}") -> RigConfig:
    return parse_config(rig_text(cameras=cameras, inference=inference))


@contextmanager
def running(rig: RigConfig) -> Iterator[tuple[ProcessGroup, RigWatcher]]:
    """The rig's capture processes, started, with a watcher on its bus, all running."""
    group = ProcessGroup(capture_processes(rig, monotonic_ns() + NS_PER_S, "WARNING"))
    ctx: zmq.Context[Any] = zmq.Context()
    watcher = RigWatcher(rig, ctx)
    group.start()
    try:
        names = ["aligner"] + [f"capture:{c}" for c in rig.camera_ids]
        assert watcher.wait_until_running(names, 60.0), watcher.workers
        yield group, watcher
    finally:
        watcher.close()
        group.stop()
        ctx.destroy(linger=0)


def bundles_within(watcher: RigWatcher, seconds: float) -> int:
    count = 0

    def seen(*_: Any) -> None:
        nonlocal count
        count += 1

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        watcher.receive(50, on_bundle=seen)
    return count


def overflowing_clock_request() -> list[bytes]:
    """The probe's message: an array descriptor whose shape overflows, and an empty frame."""
    env = {
        "v": SCHEMA_VERSION, "type": "ClockRequest", "body": {"host": "x", "t0_ns": 1},
        "arrays": [{"name": "a", "dtype": "uint8", "shape": [2**40, 2**40]}],
    }  # fmt: skip
    return [ClockRequest.TOPIC, json.dumps(env).encode(), b""]


def test_garbage_on_the_clock_service_is_counted_and_the_aligner_carries_on() -> None:
    rig = small_rig()
    with running(rig) as (group, watcher):
        pid = group.pids()["aligner"]
        ctx: zmq.Context[Any] = zmq.Context()
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect(rig.clock_endpoint())
        try:
            dealer.send_multipart(overflowing_clock_request())
            for k in range(500):
                dealer.send_multipart([ClockRequest.TOPIC, b"{not json %d" % k])
            deadline = time.monotonic() + 30.0
            errors = 0
            while time.monotonic() < deadline and errors < 501:
                watcher.receive(100)
                status = watcher.rig_status
                errors = status.decode_errors + status.probes_refused if status else 0
            assert errors >= 501
            assert group.exited() == {}  # nobody died
            assert group.pids()["aligner"] == pid
            # and another host's well-formed probe is still answered
            honest = ctx.socket(zmq.DEALER)
            honest.setsockopt(zmq.LINGER, 0)
            honest.connect(rig.clock_endpoint())
            honest.send_multipart(encode(ClockRequest(host="y", t0_ns=42)))
            assert honest.poll(5000)
            assert honest.recv_multipart()[0] == b"clockrep"
            honest.close(0)
            assert bundles_within(watcher, 1.0) > 0
        finally:
            dealer.close(0)
            ctx.term()


def test_a_worker_whose_port_is_taken_exits_with_the_reason_instead_of_hanging(
    tmp_path: Path,
) -> None:
    """``syncpose align`` with its bus port already taken: it says so and exits 1 (before, its
    open subscriber made ``zmq_ctx_term`` block: the process hung at 0 % CPU forever)."""
    base = free_port_block(6)
    config = tmp_path / "rig.yaml"
    config.write_text(
        "rig: {name: taken, fps: 30}\ncameras:\n"
        "  - {id: cam0, source: {type: synthetic, width: 160, height: 120}}\n"
        f"bus: {{base_port: {base}}}\ninference: {{enabled: false}}\nserver: {{enabled: false}}\n"
    )
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    taken.bind(("127.0.0.1", base))  # the aligner's PUB port
    taken.listen()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "syncpose", "align", "--config", str(config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        taken.close()
    assert proc.returncode == 1
    assert f"cannot bind PUB socket to tcp://127.0.0.1:{base}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_inference_worker_with_its_port_taken_exits_and_is_restarted() -> None:
    rig = small_rig(inference="{enabled: true}")
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    port = int(rig.inference_endpoint().rsplit(":", 1)[1])
    taken.bind(("127.0.0.1", port))
    taken.listen()
    from syncpose.inference.worker import process_spec

    group = ProcessGroup([process_spec(rig, "WARNING")])
    group.start()
    try:
        deadline = time.monotonic() + 60.0
        while time.monotonic() < deadline and not group.exited():
            time.sleep(0.1)
        assert group.exited() == {"inference": 1}
    finally:
        taken.close()
        group.stop()


def test_a_second_rig_on_the_same_ports_is_refused_and_never_mixed_in(tmp_path: Path) -> None:
    """A second rig on the first one's bus ports: refused before anything starts, with the
    ports named; and a consumer of another rig drops this rig's messages instead of adopting
    its stream (before: the second rig reported every worker running, served the first one's
    poses, and its cameras crash-looped)."""
    rig = small_rig()
    with running(rig) as (group, watcher):
        second = tmp_path / "second.yaml"
        second.write_text(rig_text("second", base_port=rig.bus.base_port))
        proc = subprocess.run(
            [sys.executable, "-m", "syncpose", "run", "--config", str(second), "--seconds", "5"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "in use on this host: the aligner (tcp://127.0.0.1:" in proc.stdout
        assert "Traceback" not in proc.stderr
        assert group.exited() == {}  # the first rig runs on untouched
        other = parse_config(second.read_text())
        ctx: zmq.Context[Any] = zmq.Context()
        stranger = RigWatcher(other, ctx)
        try:
            assert bundles_within(stranger, 2.0) == 0
            assert stranger.decoder.stats.other_rig > 0
            assert stranger.workers == {}
        finally:
            stranger.close()
            ctx.term()
        assert bundles_within(watcher, 1.0) > 0  # while the rig's own consumer takes them


@pytest.mark.slow
def test_every_worker_killed_or_frozen_the_rig_recovers() -> None:
    """The whole rig under the supervisor: each worker SIGKILLed in turn (the server too), then
    a camera SIGSTOPped. Poses from every camera resume each time; while a camera is frozen
    the others carry on without it. (Deadlines are generous: a loaded machine is slow, not
    broken; ``syncpose bench faults`` measures the times.)"""
    from syncpose.app.faults import freeze_and_time, kill_and_time, running_rig

    with running_rig(cameras=3) as (rig, watch):  # one frozen: two still make poses
        for worker in ("capture:cam1", "aligner", "inference", "server"):
            assert kill_and_time(rig, watch, worker, timeout_s=90.0) < 90.0
        frozen = freeze_and_time(rig, watch, "cam1", frozen_s=3.0, timeout_s=90.0)
        assert frozen["others_carried_on"] and frozen["frozen_camera_left_out"], frozen
        assert frozen["back_after_s"] is not None


@pytest.mark.slow
def test_the_whole_rig_killed_while_recording_loses_at_most_the_last_second(
    tmp_path: Path,
) -> None:
    """``syncpose demo`` recording, then SIGKILL to every one of its processes at once (a power
    cut, as near as a test gets): the recording is there, marked interrupted, readable, and
    holds every pose up to a second before the kill."""
    import os
    import signal
    import urllib.request

    from syncpose.server.recording import RecordingStore

    port, bus = free_port_block(1), free_port_block(8)
    recordings = tmp_path / "rec"
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "syncpose", "demo", "--port", str(port), "--bus-port", str(bus),
         "--recordings", str(recordings)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def get(path: str, data: bytes | None = None) -> Any:
        request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.loads(r.read())

    try:
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            try:
                if get("/api/health")["poses"] > 30:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        rec = get("/api/recordings", b"{}")["id"]
        at_start = get("/api/health")["poses"]
        time.sleep(4.0)
        seen = get("/api/health")["poses"]
        time.sleep(1.2)  # past an fsync of what was seen
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    store = RecordingStore(recordings)
    meta = store.meta(rec)
    assert meta["state"] == "interrupted"
    lines = store.read_lines(rec)
    assert len(lines) >= seen - at_start - 2  # all the server had taken 1.2 s before the kill
    # Nothing the worker published is missing: the bundles absent from the recording are ones
    # the worker skipped (it fell behind on a loaded machine, and counts them), never ones the
    # recording lost.
    seqs = [x["bundle_seq"] for x in lines]
    assert all(b > a for a, b in itertools.pairwise(seqs))
    assert seqs[-1] - seqs[0] + 1 - len(seqs) <= lines[-1]["dropped_bundles"]
    assert store.track(rec, 30.0).positions.shape[0] == len(lines)
