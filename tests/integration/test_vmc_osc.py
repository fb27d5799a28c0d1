"""The VMC output, received by a real OSC server (python-osc): the addresses and argument types
of the protocol, datagrams that fit 1500 bytes, rotations that give the pose back when a
receiver chains them; and the outputs worker, fed by a real ZeroMQ publisher."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import zmq

from syncpose.config import VmcOutputConfig
from syncpose.configfile import parse_config
from syncpose.messages import PoseResult, encode
from syncpose.osc import message, pack_bundles
from syncpose.outputs import VmcTarget, run_outputs
from syncpose.skeleton import JOINTS
from syncpose.solve import BODY_TO_WORLD, BONES
from syncpose.vmc import frame_messages
from tests.unit.test_solve import mocap, rigid

osc_server = pytest.importorskip("pythonosc.osc_server", reason="python-osc is not installed")
from pythonosc.dispatcher import Dispatcher  # noqa: E402
from pythonosc.osc_bundle import OscBundle  # noqa: E402

J = {n: i for i, n in enumerate(JOINTS)}
BONE_NAMES = [b.name for b in BONES]


class Receiver:
    """A python-osc UDP server on a free port, keeping every message it dispatches."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, tuple[Any, ...]]] = []
        self.lock = threading.Lock()
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(self._keep)
        self.server = osc_server.ThreadingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _keep(self, address: str, *args: Any) -> None:
        with self.lock:
            self.messages.append((address, args))

    def wait_for(self, address: str, count: int, timeout_s: float = 20.0) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self.lock:
                if sum(a == address for a, _ in self.messages) >= count:
                    return
            time.sleep(0.01)
        raise AssertionError(f"fewer than {count} {address} messages in {timeout_s} s")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _quat_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def chain(frame: list[tuple[str, tuple[Any, ...]]]) -> dict[str, np.ndarray]:
    """What a receiver does with one frame: each bone's world position, composing the local
    positions and rotations down the hierarchy from the root (Unity axes)."""
    root = next(args for a, args in frame if a == "/VMC/Ext/Root/Pos")
    bones = {args[0]: args[1:] for a, args in frame if a == "/VMC/Ext/Bone/Pos"}
    rot = {"root": _quat_matrix(*root[4:8])}
    pos = {"root": np.array(root[1:4])}
    for bone in BONES:
        parent = "root" if bone.parent < 0 else BONES[bone.parent].name
        args = bones[bone.name]
        pos[bone.name] = pos[parent] + rot[parent] @ np.array(args[0:3])
        rot[bone.name] = rot[parent] @ _quat_matrix(*args[3:7])
    return pos


def to_world(unity: np.ndarray) -> np.ndarray:
    """Unity (left-handed, x right, Y up) -> the rig's world (Z up, m)."""
    return np.asarray(BODY_TO_WORLD @ (unity * np.array([-1.0, 1.0, 1.0])))


def frames_of(messages: list[tuple[str, tuple[Any, ...]]]) -> list[list[tuple[str, Any]]]:
    """The messages cut into frames, each ending with its /VMC/Ext/T."""
    frames, current = [], []
    for m in messages:
        current.append(m)
        if m[0] == "/VMC/Ext/T":
            frames.append(current)
            current = []
    return frames


def test_osc_bundles_fit_their_limit_and_parse_with_python_osc() -> None:
    msgs = [message("/VMC/Ext/Bone/Pos", f"Bone{k}", *[0.5] * 7) for k in range(40)]
    datagrams = pack_bundles(msgs, limit=1500)
    assert len(datagrams) > 1
    assert all(len(d) <= 1500 for d in datagrams)
    parsed = [m for d in datagrams for m in OscBundle(d)]
    assert [m.params[0] for m in parsed] == [f"Bone{k}" for k in range(40)]
    with pytest.raises(ValueError, match="does not fit"):
        pack_bundles([message("/x", "y" * 2000)])
    with pytest.raises(TypeError):
        message("/x", True)


def test_a_vmc_receiver_gets_the_protocol_and_its_rotations_give_the_pose_back(
    receiver: Receiver,
) -> None:
    poses = rigid(mocap())[:40]
    target = VmcTarget(VmcOutputConfig(type="vmc", port=receiver.port))
    for k, pose in enumerate(poses):
        assert target.send([7], pose[None].astype(np.float32))
        receiver.wait_for("/VMC/Ext/T", k + 1)  # one pose in flight at a time: UDP keeps order
    target.close()
    assert target.sent == len(poses) and target.dropped == 0
    frames = frames_of(receiver.messages)
    assert len(frames) == len(poses)
    for pose, frame in zip(poses, frames, strict=True):
        addresses = [a for a, _ in frame]
        assert addresses[0] == "/VMC/Ext/Root/Pos"
        assert addresses.count("/VMC/Ext/Bone/Pos") == len(BONES)
        assert addresses[-2:] == ["/VMC/Ext/OK", "/VMC/Ext/T"]
        for address, args in frame:
            if address.endswith("/Pos"):
                assert isinstance(args[0], str) and len(args) == 8
                assert all(isinstance(v, float) for v in args[1:])
                q = np.array(args[4:8])
                assert abs(np.linalg.norm(q) - 1.0) < 1e-5
            elif address == "/VMC/Ext/OK":
                assert all(isinstance(v, int) for v in args) and args[0] == 1
            else:
                assert len(args) == 1 and isinstance(args[0], float)
        names = [args[0] for a, args in frame if a == "/VMC/Ext/Bone/Pos"]
        assert names == BONE_NAMES
        pos = chain(frame)
        for bone in BONES:
            if bone.at in J:  # Chest sits on the spine, between joints
                got = to_world(pos[bone.name])
                err = np.linalg.norm(got - pose[J[bone.at]])
                assert err < 0.005, f"{bone.name}: {err * 1000:.1f} mm"


def test_every_frame_fits_one_datagram_and_the_person_is_followed() -> None:
    from syncpose.solve import lengths_of, solve
    from syncpose.vmc import frame_datagrams

    pose = rigid(mocap())[0]
    datagrams = frame_datagrams(solve(pose[None]), lengths_of(pose[None]).offsets(), 1.0)
    assert len(datagrams) >= 2 and all(len(d) <= 1500 for d in datagrams)
    assert sum(len(list(OscBundle(d))) for d in datagrams) == len(
        frame_messages(solve(pose[None]), lengths_of(pose[None]).offsets(), 1.0)
    )
    target = VmcTarget(VmcOutputConfig(type="vmc", port=9))
    assert target.choose([4, 2]) == 1  # the first posed (lowest id) ...
    assert target.choose([5, 2]) == 1  # ... followed while present
    assert target.choose([5]) == 0  # then the next
    chosen = VmcTarget(VmcOutputConfig(type="vmc", port=9, person=3))
    assert chosen.choose([1, 2]) is None and chosen.choose([3, 1]) == 0
    target.close()
    chosen.close()


def test_a_receiver_that_is_not_there_costs_dropped_frames_only() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nobody listens there
    target = VmcTarget(VmcOutputConfig(type="vmc", port=port))
    pose = rigid(mocap())[0][None].astype(np.float32)
    results = [target.send([1], pose) for _ in range(20)]
    target.close()
    # Loopback reports the closed port (ICMP) on the next send: those frames are counted.
    assert target.sent + target.dropped == 20
    assert target.dropped >= 1 and results.count(False) == target.dropped


def test_the_outputs_worker_sends_what_the_inference_worker_publishes(
    receiver: Receiver,
) -> None:
    text = f"""
rig: {{name: vmc-test, fps: 30}}
bus: {{base_port: 47310}}
cameras:
  - {{id: cam0, source: {{type: synthetic}}}}
  - {{id: cam1, source: {{type: synthetic}}}}
outputs:
  - {{type: vmc, port: {receiver.port}}}
"""
    rig = parse_config(text, source="<test>")
    ctx: zmq.Context[Any] = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(rig.inference_endpoint())
    stop = threading.Event()
    worker = threading.Thread(target=run_outputs, args=(rig, stop, ctx), daemon=True)
    worker.start()
    poses = rigid(mocap())
    try:
        end = time.monotonic() + 30.0
        k = 0
        while time.monotonic() < end and sum(a == "/VMC/Ext/T" for a, _ in receiver.messages) < 5:
            pose = PoseResult(
                bundle_seq=k, t_ref_ns=k, calibration_id="x", joint_names=list(JOINTS),
                camera_ids=rig.camera_ids, person_ids=[3], views_used=rig.camera_ids,
                method="time_aware", detector="synthetic",
            )  # fmt: skip
            arrays = {"positions": poses[k % len(poses)][None].astype(np.float32)}
            pub.send_multipart(encode(pose, arrays, rig=rig.rig_id))
            k += 1
            time.sleep(0.03)
        receiver.wait_for("/VMC/Ext/T", 5, timeout_s=1.0)
    finally:
        stop.set()
        worker.join(5.0)
        pub.close()
        ctx.destroy(linger=0)
    assert not worker.is_alive()
    names = {args[0] for a, args in receiver.messages if a == "/VMC/Ext/Bone/Pos"}
    assert names == set(BONE_NAMES)
