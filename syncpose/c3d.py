"""A minimal C3D writer: 3D points only, floating-point data, Intel byte order.

The C3D layout (c3d.org's "C3D file format" user guide): 512-byte blocks; block 1 the header
(pointers, point count, frame range, scale, rate); from block 2 the parameter section (groups
and parameters, here group POINT with USED, SCALE, RATE, DATA_START, FRAMES, UNITS, LABELS and
DESCRIPTIONS); then the data: per frame, per point, X Y Z and a residual word as float32, with
a negative residual marking a point that is not known in that frame. Written in millimetres,
as biomechanics tools expect, Z up as recorded.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt

from syncpose.arrays import BoolArray

_BLOCK = 512
_INTEL = 84
_KEY = 0x50


def _group(gid: int, name: str, desc: str) -> bytes:
    body = struct.pack("<bb", len(name), -gid) + name.encode()
    tail = struct.pack("<b", len(desc)) + desc.encode()
    return body + struct.pack("<h", len(tail) + 2) + tail


def _param(gid: int, name: str, kind: int, dims: tuple[int, ...], data: bytes, desc: str) -> bytes:
    head = struct.pack("<bb", len(name), gid) + name.encode()
    rest = struct.pack("<bb", kind, len(dims)) + bytes(dims) + data
    rest += struct.pack("<b", len(desc)) + desc.encode()
    return head + struct.pack("<h", len(rest) + 2) + rest


def _chars(items: list[str], width: int) -> bytes:
    return b"".join(s.encode("ascii", "replace")[:width].ljust(width) for s in items)


def write_c3d(
    path: str | Path, labels: list[str], positions_m: npt.ArrayLike, rate_hz: float
) -> None:
    """Write ``positions_m`` (K, J, 3) metres (NaN = unknown) named by ``labels`` at
    ``rate_hz``."""
    pos = np.asarray(positions_m, dtype=np.float64)
    K, J = pos.shape[:2]
    if len(labels) != J or pos.shape[2:] != (3,):
        raise ValueError(f"positions {pos.shape} do not match {len(labels)} labels")
    if K > 32767 or J > 255:
        raise ValueError("C3D (16-bit counts) holds at most 32767 frames and 255 points here")
    width = max(4, max(len(s) for s in labels))

    def params(data_start: int) -> bytes:
        gid = 1
        out = _group(gid, "POINT", "3D points")
        out += _param(gid, "USED", 2, (), struct.pack("<h", J), "number of points")
        out += _param(gid, "SCALE", 4, (), struct.pack("<f", -1.0), "negative: float data")
        out += _param(gid, "RATE", 4, (), struct.pack("<f", rate_hz), "frames per second")
        out += _param(gid, "DATA_START", 2, (), struct.pack("<h", data_start), "first data block")
        out += _param(gid, "FRAMES", 2, (), struct.pack("<h", K), "number of frames")
        out += _param(gid, "UNITS", -1, (2,), b"mm", "units")
        out += _param(gid, "LABELS", -1, (width, J), _chars(labels, width), "joint names")
        out += _param(gid, "DESCRIPTIONS", -1, (width, J), _chars(labels, width), "joints")
        return out + b"\x00" * 4  # an empty record ends the section

    n_param_blocks = (4 + len(params(0)) + _BLOCK - 1) // _BLOCK
    data_start = 2 + n_param_blocks
    section = struct.pack("<BBBB", 1, _KEY, n_param_blocks, _INTEL) + params(data_start)
    section = section.ljust(n_param_blocks * _BLOCK, b"\x00")

    header = bytearray(_BLOCK)
    struct.pack_into("<BB", header, 0, 2, _KEY)  # parameter section starts at block 2
    struct.pack_into("<hhhhh", header, 2, J, 0, 1, K, 10)  # points, analog, first, last, gap
    struct.pack_into("<f", header, 12, -1.0)  # scale: float data
    struct.pack_into("<hh", header, 16, data_start, 0)  # data start, analog per frame
    struct.pack_into("<f", header, 20, rate_hz)

    frames = np.zeros((K, J, 4), dtype="<f4")
    known: BoolArray = np.asarray(np.isfinite(pos).all(axis=-1), dtype=np.bool_)
    frames[..., :3] = np.where(known[..., None], pos * 1000.0, 0.0)
    frames[..., 3] = np.where(known, 0.0, -1.0)  # residual: negative = point not known
    data = frames.tobytes()
    data = data.ljust(((len(data) + _BLOCK - 1) // _BLOCK) * _BLOCK, b"\x00")
    Path(path).write_bytes(bytes(header) + section + data)
