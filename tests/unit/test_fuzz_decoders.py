"""Property-based fuzzing of every decoder of outside input: the wire envelope and its array
descriptors (clock messages included), rig YAML, and pose files. Whatever comes in: no
exception but the documented one escapes, bad input is counted, and memory stays bounded."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncpose.configfile import ConfigError, parse_config
from syncpose.messages import MESSAGE_TYPES, SCHEMA_VERSION, Decoder
from syncpose.posefile import read_poses

TOPICS = [cls.TOPIC for cls in MESSAGE_TYPES.values()]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
# Sizes whose products overflow 64 bits (2**40 * 2**40 wraps to 0), besides anything at all.
POWERS = st.sampled_from([0, 1, 2, 2**31, 2**32, 2**40, 2**61, 2**63, 2**64])
SHAPES = st.lists(
    st.one_of(
        POWERS, st.integers(-(2**70), 2**70), st.booleans(), st.floats(), st.text(max_size=3)
    ),
    max_size=6,
)
DESCRIPTOR = st.fixed_dictionaries(
    {
        "name": st.one_of(st.text(max_size=10), st.integers()),
        "dtype": st.sampled_from(["uint8", "float32", "int64", "object", "x", 3]),
        "shape": st.one_of(SHAPES, JSON),
    }
)


@st.composite
def envelopes(draw: st.DrawFn) -> list[bytes]:
    """Nearly right messages: a known type on its topic (or not), a body of random JSON or of
    the right type's fields, array descriptors of every shape, frames of random bytes."""
    name = draw(st.sampled_from(sorted(MESSAGE_TYPES)))
    cls = MESSAGE_TYPES[name]
    topic = cls.TOPIC if draw(st.booleans()) else draw(st.sampled_from(TOPICS))
    descriptors = draw(st.lists(DESCRIPTOR, max_size=3))
    env: dict[str, Any] = {
        "v": draw(st.sampled_from([SCHEMA_VERSION, SCHEMA_VERSION, 0, "1", None])),
        "type": name,
        "body": draw(JSON),
        "arrays": descriptors if draw(st.booleans()) else draw(JSON),
    }
    if draw(st.booleans()):
        env["rig"] = draw(JSON)
    frames = draw(
        st.lists(st.one_of(st.just(b""), st.binary(max_size=256)), max_size=len(descriptors) + 1)
    )
    return [topic, json.dumps(env, default=str).encode(), *frames]


DEEP = st.integers(100, 200_000).map(lambda n: [b"hdr", b"[" * n + b"]" * n])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(envelopes(), DEEP, st.lists(st.binary(max_size=512), max_size=5)))
def test_the_wire_decoder_counts_and_drops_never_raises(frames: list[bytes]) -> None:
    decoder = Decoder(rig="this-rig")
    tracemalloc.start()
    try:
        decoded = decoder.decode(frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # never more than a few times what was received
    if decoded is None:
        assert decoder.stats.total == 1 and decoder.stats.last_error
        assert len(decoder.stats.last_error) < 400
    else:
        assert decoder.stats.total == 0


def config_problems(text: str) -> list[str] | None:
    """None for a valid config, else its problems (any other exception fails the test)."""
    try:
        parse_config(text, source="fuzz.yaml")
    except ConfigError as exc:
        return [str(p) for p in exc.problems]
    return None


@settings(max_examples=200)
@given(st.text(max_size=400))
def test_rig_yaml_gives_a_config_or_config_errors(text: str) -> None:
    problems = config_problems(text)
    assert problems is None or (problems and all(p.startswith("fuzz.yaml") for p in problems))


YAML_PIECES = st.sampled_from(
    ["rig:", " {name: a, fps: 30}", "\ncameras:", "\n  - ", "{id: c, source: {type: synthetic}}",
     "&x ", "*x", "[", "]", "{", "}", ": ", "? ", "\n", "- ", "!!python/object:os.system ",
     "\t", "'", "\x00"]
)  # fmt: skip


@settings(max_examples=200)
@given(st.lists(YAML_PIECES, max_size=30).map("".join))
def test_nearly_right_rig_yaml_gives_a_config_or_config_errors(text: str) -> None:
    problems = config_problems(text)
    assert problems is None or problems


@pytest.mark.parametrize("suffix", [".json", ".npz"])
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=300), JSON.map(lambda j: json.dumps(j).encode())))
def test_pose_files_read_or_say_why(tmp_path: Path, suffix: str, content: bytes) -> None:
    path = tmp_path / f"poses{suffix}"
    path.write_bytes(content)
    try:
        read_poses(path)
        message = None
    except ValueError as exc:  # the one error it may raise
        message = str(exc)
    assert message is None or str(path) in message
