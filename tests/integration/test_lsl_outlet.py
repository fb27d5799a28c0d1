"""The Lab Streaming Layer output, read back by a real LSL inlet: one channel per joint
coordinate, the performer's joints, and each sample stamped with its pose's capture time on
the LSL clock."""

from __future__ import annotations

import time

import numpy as np
import pytest

from syncpose.config import LslOutputConfig
from syncpose.configfile import parse_config
from syncpose.outputs import LslOutlet
from syncpose.skeleton import JOINTS
from tests.unit.test_solve import mocap

pylsl = pytest.importorskip("pylsl", reason="pylsl (with its liblsl) is not installed")

RIG = """
rig: {name: lsl-test, fps: 30}
cameras:
  - {id: cam0, source: {type: synthetic}}
  - {id: cam1, source: {type: synthetic}}
"""


def test_an_lsl_inlet_gets_the_joints_stamped_with_their_capture_time() -> None:
    rig = parse_config(RIG, source="<test>")
    name = f"syncpose-test-{time.monotonic_ns()}"
    outlet = LslOutlet(LslOutputConfig(type="lsl", name=name), rig)
    try:
        found = pylsl.resolve_byprop("name", name, timeout=10.0)
        assert found, "the outlet was not found on this host"
        inlet = pylsl.StreamInlet(found[0])
        info = inlet.info(timeout=10.0)
        assert info.channel_count() == 3 * len(JOINTS)
        assert info.nominal_srate() == 30.0
        channel = info.desc().child("channels").child("channel")
        labels = []
        while not channel.empty():
            labels.append(channel.child_value("label"))
            channel = channel.next_sibling()
        assert labels[:3] == [f"{JOINTS[0]}_{a}" for a in "xyz"]
        assert len(labels) == 3 * len(JOINTS)
        inlet.open_stream(timeout=10.0)
        time.sleep(0.5)  # the inlet connects before the first sample
        poses = mocap()[:20]
        sent = []
        for k, pose in enumerate(poses):
            # Two people; the outlet performs the first posed (lowest id): id 2, row 1.
            people = np.stack([pose + 5.0, pose]).astype(np.float32)
            captured_ns = time.monotonic_ns() - 40_000_000  # the frames were taken 40 ms ago
            lsl_then = pylsl.local_clock() - 0.040
            assert outlet.send([9, 2], people, captured_ns)
            sent.append((pose, lsl_then, k))
        got: list[tuple[np.ndarray, float]] = []
        end = time.monotonic() + 10.0
        while len(got) < len(poses) and time.monotonic() < end:
            sample, stamp = inlet.pull_sample(timeout=1.0)
            if sample is not None:
                got.append((np.array(sample), stamp))
        assert len(got) == len(poses)
        for (pose, lsl_then, _), (sample, stamp) in zip(sent, got, strict=True):
            np.testing.assert_allclose(sample.reshape(-1, 3), pose, atol=1e-6)
            # The capture time on the LSL clock (not the time of the push): within 5 ms.
            assert abs(stamp - lsl_then) < 0.005
        assert outlet.sent == len(poses) and outlet.absent == 0
        assert not outlet.send([], people[:0], time.monotonic_ns())  # nobody posed
        assert outlet.absent == 1
    finally:
        outlet.close()
