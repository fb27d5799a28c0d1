"""Wire messages: round trips, and malformed input counted and dropped, never raised."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import zmq

from syncpose.messages import (
    SCHEMA_VERSION,
    Bundle,
    BundleView,
    Decoder,
    Frame,
    FrameHeader,
    WorkerStatus,
    encode,
)

HEADER = FrameHeader(
    camera_id="cam0", seq=7, t_capture_ns=123, width=4, height=3, encoding="raw", host="h1"
)


def test_frame_round_trip_with_arrays() -> None:
    image = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    kps = np.array([[1.5, 2.5], [np.nan, np.nan]], dtype=np.float32)
    frames = encode(Frame(header=HEADER, keypoint_names=["a", "b"]), {"image": image, "kp": kps})
    assert frames[0] == b"frame"
    decoded = Decoder().decode([bytes(f) for f in frames])
    assert decoded is not None
    assert decoded.message == Frame(header=HEADER, keypoint_names=["a", "b"])
    np.testing.assert_array_equal(decoded.arrays["image"], image)
    np.testing.assert_array_equal(decoded.arrays["kp"], kps)


def test_bundle_round_trip_and_missing() -> None:
    bundle = Bundle(
        bundle_seq=3,
        t_ref_ns=1000,
        period_ns=33_333_333,
        views=[
            BundleView(camera_id="cam0", header=HEADER, offset_ns=-5),
            BundleView(camera_id="x"),
        ],
    )
    decoded = Decoder().decode(encode(bundle))
    assert decoded is not None and decoded.message == bundle
    assert bundle.missing == ["x"] and [v.camera_id for v in bundle.present] == ["cam0"]


def test_over_a_real_zmq_socket_pair() -> None:
    ctx: zmq.Context[Any] = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    a.bind("inproc://msg-test")
    b.connect("inproc://msg-test")
    image = np.ones((3, 4, 3), np.uint8)
    a.send_multipart(encode(Frame(header=HEADER), {"image": image}), copy=False)
    decoded = Decoder().decode(b.recv_multipart(copy=False))
    assert decoded is not None and decoded.arrays["image"].shape == (3, 4, 3)
    a.close(0)
    b.close(0)


def envelope(**over: Any) -> bytes:
    env: dict[str, Any] = {
        "v": SCHEMA_VERSION,
        "type": "FrameHeader",
        "body": HEADER.model_dump(mode="json"),
        "arrays": [],
    }
    env.update(over)
    return json.dumps(env).encode()


@pytest.mark.parametrize(
    ("frames", "reason"),
    [
        ([b"hdr"], "malformed"),
        ([b"hdr", b"\xff\xfe not json"], "malformed"),
        ([b"hdr", b"[1, 2]"], "malformed"),
        ([b"hdr", envelope(v=SCHEMA_VERSION + 1)], "wrong_version"),
        ([b"hdr", envelope(type="Nope")], "malformed"),
        ([b"frame", envelope()], "malformed"),  # type on the wrong topic
        ([b"hdr", envelope(body={"camera_id": "x"})], "malformed"),
        ([b"hdr", envelope(body={**HEADER.model_dump(mode="json"), "extra": 1})], "malformed"),
        (
            [b"hdr", envelope(arrays=[{"name": "a", "dtype": "object", "shape": [1]}]), b"x"],
            "malformed",
        ),
        (
            [b"hdr", envelope(arrays=[{"name": "a", "dtype": "uint8", "shape": [5]}]), b"abc"],
            "malformed",
        ),
        ([b"hdr", envelope(arrays=[{"name": "a", "dtype": "uint8", "shape": [1]}])], "malformed"),
        (
            [b"hdr", envelope(arrays=[{"name": "a", "dtype": "uint8", "shape": [-1]}]), b""],
            "malformed",
        ),
    ],
)
def test_bad_input_is_counted_and_dropped(frames: list[bytes], reason: str) -> None:
    dec = Decoder()
    assert dec.decode(frames) is None
    assert getattr(dec.stats, reason) == 1 and dec.stats.total == 1
    assert dec.stats.last_error


def clock_request(arrays: list[dict[str, Any]]) -> bytes:
    body = {"host": "h", "t0_ns": 1}
    return json.dumps({"v": SCHEMA_VERSION, "type": "ClockRequest", "body": body,
                       "arrays": arrays}).encode()  # fmt: skip


@pytest.mark.parametrize(
    "frames",
    [
        # the probe's message: a shape whose product overflows a 64-bit integer
        [
            b"clockreq",
            clock_request([{"name": "a", "dtype": "uint8", "shape": [2**40, 2**40]}]),
            b"",
        ],
        [b"clockreq", clock_request([{"name": "a", "dtype": "uint8", "shape": [2**64]}]), b""],
        [b"clockreq", clock_request([{"name": "a", "dtype": "int64", "shape": [2**61, 8]}]), b""],
        [b"clockreq", clock_request([{"name": "a", "dtype": "uint8", "shape": [True, 2]}]), b"xy"],
        [b"clockreq", clock_request([{"name": "a", "dtype": ["uint8"], "shape": [1]}]), b"x"],
        [b"hdr", b"[" * 100_000 + b"]" * 100_000],  # nesting deeper than the parser's stack
        [b"hdr", b" " * (2 << 20)],  # an envelope far larger than any real one
    ],
)
def test_hostile_input_is_counted_and_dropped_never_raised(frames: list[bytes]) -> None:
    dec = Decoder()
    assert dec.decode(frames) is None
    assert dec.stats.malformed == 1 and dec.stats.last_error
    assert len(dec.stats.last_error) < 300  # what a peer sent is not echoed in full


def test_unaccepted_type_is_dropped() -> None:
    dec = Decoder(accept=[FrameHeader])
    status = WorkerStatus(worker="w", state="running", fps=1.0, frames=1, dropped=0, t_ns=0, pid=1)
    assert dec.decode(encode(status)) is None
    assert dec.stats.unexpected_type == 1
    assert dec.decode(encode(HEADER)) is not None


def test_disallowed_dtype_refused_on_encode() -> None:
    with pytest.raises(ValueError, match="not allowed"):
        encode(HEADER, {"x": np.array(["a"], dtype=object)})


def test_endpoint_in_use_is_a_clear_error() -> None:
    from syncpose.bus import SocketTimeouts, free_port_block, publisher

    ctx: zmq.Context[Any] = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_port_block(1)}"
    first = publisher(ctx, endpoint, SocketTimeouts())
    with pytest.raises(OSError, match=r"cannot bind PUB socket to tcp://127\.0\.0\.1:\d+"):
        publisher(ctx, endpoint, SocketTimeouts())
    first.close(0)
    ctx.term()


def test_a_message_from_another_rig_is_dropped_and_counted() -> None:
    dec = Decoder(rig="aaaa")
    assert dec.decode(encode(HEADER, rig="bbbb")) is None
    assert dec.stats.other_rig == 1 and dec.stats.total == 1
    assert dec.decode(encode(HEADER, rig="aaaa")) is not None
    assert dec.decode(encode(HEADER)) is not None  # a tool that names no rig is heard


def test_the_rig_id_is_the_same_wherever_the_rig_is_loaded() -> None:
    from syncpose.configfile import parse_config

    text = "rig: {name: r, fps: 30}\ncameras:\n  - {id: a, source: {type: synthetic}}\n"
    one, two = parse_config(text), parse_config(text.replace("name: r", "name: s"))
    assert one.rig_id == parse_config(text + "bus: {base_port: 7000}\n").rig_id
    assert one.rig_id != two.rig_id


def test_a_pose_of_nobody_round_trips_with_empty_arrays() -> None:
    from syncpose.messages import Decoder, PoseResult, encode

    msg = PoseResult(
        bundle_seq=3, t_ref_ns=0, calibration_id="x", joint_names=["a"], camera_ids=["c"],
        views_used=[], method="dlt", detector="d", reason="nobody",
    )  # fmt: skip
    arrays: dict[str, Any] = {
        "positions": np.zeros((0, 1, 3), np.float32),
        "uncertainty": np.zeros((0, 1)),
    }
    decoded = Decoder().decode(encode(msg, arrays))
    assert decoded is not None and decoded.message == msg
    assert decoded.arrays["positions"].shape == (0, 1, 3)
