"""Rig files: the TOML layout shared by aniposelib, anipose, FreeMoCap and Pose2Sim, plus imports
of Caliscope's ``camera_array.toml`` and Qualisys ``.qca.txt``.

The shared layout has one ``[cam_N]`` table per camera — ``name``, ``size`` (width, height),
``matrix`` (3x3), ``distortions``, ``rotation`` (Rodrigues, world to camera), ``translation``
(metres), ``fisheye`` — and a ``[metadata]`` table. Floats are written with ``repr`` so that
reading a written file gives back exactly the same numbers.
"""

from __future__ import annotations

import json
import math
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from syncpose.camera import Camera, Rig, matrix_to_rodrigues
from syncpose.config import RigConfig
from syncpose.simulate import synthetic_rig

#: Qualisys stores pixel quantities in sensor units of 1/64 pixel.
QUALISYS_SUBPIXELS = 64.0


class RigFileError(ValueError):
    """A rig file is unreadable or inconsistent; the message names the file and the camera."""


# --- the shared TOML layout ---------------------------------------------------------------------


def read_rig(path: str | Path) -> Rig:
    """Read a rig in the shared TOML layout (aniposelib/Pose2Sim/FreeMoCap)."""
    path = Path(path)
    data = _load_toml(path)
    cameras = []
    for key, table in data.items():
        if key == "metadata" or not isinstance(table, dict):
            continue
        try:
            if table.get("fisheye", False):
                raise RigFileError("fisheye cameras are not supported yet")
            cameras.append(
                Camera(
                    name=str(table.get("name", key)),
                    size=(int(table["size"][0]), int(table["size"][1])),
                    K=np.asarray(table["matrix"], dtype=np.float64),
                    dist=np.asarray(table.get("distortions", []), dtype=np.float64),
                    rvec=np.asarray(table.get("rotation", [0, 0, 0]), dtype=np.float64),
                    tvec=np.asarray(table.get("translation", [0, 0, 0]), dtype=np.float64),
                )
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RigFileError(f"{path}: [{key}]: {_describe(exc)}") from None
    if not cameras:
        raise RigFileError(f"{path}: no camera tables found")
    metadata = data.get("metadata", {})
    return Rig(tuple(cameras), dict(metadata) if isinstance(metadata, dict) else {})


def write_rig(path: str | Path, rig: Rig) -> None:
    """Write ``rig`` in the shared TOML layout (``[cam_0]``, ``[cam_1]``, ..., ``[metadata]``)."""
    lines: list[str] = []
    for i, cam in enumerate(rig.cameras):
        lines.append(f"[cam_{i}]")
        lines.append(f"name = {_toml_value(cam.name)}")
        lines.append(f"size = {_toml_value(list(cam.size))}")
        lines.append(f"matrix = {_toml_value(cam.K.tolist())}")
        lines.append(f"distortions = {_toml_value(cam.dist.tolist())}")
        lines.append(f"rotation = {_toml_value(cam.rvec.tolist())}")
        lines.append(f"translation = {_toml_value(cam.tvec.tolist())}")
        lines.append("fisheye = false")
        lines.append("")
    metadata = {"calibration_id": rig.id, **rig.metadata}
    lines.append("[metadata]")
    lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in metadata.items())
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest repr that round-trips exactly
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.generic):
        return _toml_value(value.item())
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise RigFileError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RigFileError(f"{path}: not valid TOML: {exc}") from None


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    return str(exc)


# --- imports ------------------------------------------------------------------------------------


def read_caliscope(path: str | Path) -> Rig:
    """Import Caliscope's ``camera_array.toml`` (``[cameras.N]``, R as a 3x3 matrix)."""
    path = Path(path)
    data = _load_toml(path)
    tables = data.get("cameras")
    if not isinstance(tables, dict) or not tables:
        raise RigFileError(f"{path}: no [cameras.N] tables (is this a Caliscope camera_array?)")
    cameras = []
    for key in sorted(tables, key=lambda k: int(k) if str(k).isdigit() else str(k)):
        table = tables[key]
        if table.get("ignore", False):
            continue
        try:
            R = np.asarray(table["rotation"], dtype=np.float64)
            if R.shape != (3, 3):
                raise RigFileError(f"rotation has shape {R.shape}, expected 3x3")
            cameras.append(
                Camera(
                    name=f"cam_{table.get('cam_id', key)}",
                    size=(int(table["size"][0]), int(table["size"][1])),
                    K=np.asarray(table["matrix"], dtype=np.float64),
                    dist=np.asarray(table["distortions"], dtype=np.float64),
                    rvec=matrix_to_rodrigues(R),
                    tvec=np.asarray(table["translation"], dtype=np.float64),
                )
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RigFileError(f"{path}: [cameras.{key}]: {_describe(exc)}") from None
    return Rig(tuple(cameras), {"imported_from": "caliscope", "source": path.name})


def read_qualisys(path: str | Path, *, distortion_in_subpixels: bool = True) -> Rig:
    """Import a Qualisys ``.qca.txt`` calibration (XML).

    The file's conventions: pixel quantities (focal lengths, principal point) are in 1/64 pixel,
    the principal point counts from the sensor origin (the video window's ``left``/``top`` is
    subtracted); ``transform`` holds the camera's position in the world (mm) and its
    orientation stored column by column, for a camera frame turned 180° about x relative to
    OpenCV's. ``distortion_in_subpixels`` divides the distortion coefficients by 64 as well, as
    Pose2Sim's converter does, so that the result equals its TOML; pass ``False`` to keep them
    as written.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise RigFileError(f"{path}: not a readable Qualisys XML file: {exc}") from None
    flip_x = np.diag([1.0, -1.0, -1.0])  # 180° about the camera's x axis
    dist_scale = QUALISYS_SUBPIXELS if distortion_in_subpixels else 1.0
    cameras: list[Camera] = []
    for node in root.iter("camera"):
        serial = node.get("serial", f"cam{len(cameras)}")
        try:
            tr = node.find("transform")
            intr = node.find("intrinsic")
            fov = node.find("fov_video")
            if tr is None or intr is None or fov is None:
                raise RigFileError("missing transform, intrinsic or fov_video")
            f = {k: float(v) for k, v in intr.attrib.items()}
            win = {k: float(v) for k, v in fov.attrib.items()}
            K = np.array(
                [
                    [
                        f["focalLengthU"] / QUALISYS_SUBPIXELS,
                        0.0,
                        f["centerPointU"] / QUALISYS_SUBPIXELS - win["left"],
                    ],
                    [
                        0.0,
                        f["focalLengthV"] / QUALISYS_SUBPIXELS,
                        f["centerPointV"] / QUALISYS_SUBPIXELS - win["top"],
                    ],
                    [0.0, 0.0, 1.0],
                ]
            )
            dist = (
                np.array(
                    [
                        f["radialDistortion1"],
                        f["radialDistortion2"],
                        f["tangentalDistortion1"],
                        f["tangentalDistortion2"],
                        f.get("radialDistortion3", 0.0),
                    ]
                )
                / dist_scale
            )
            r = {k: float(v) for k, v in tr.attrib.items()}
            # Stored column by column: element (i, j) of the camera-to-world matrix is r{j}{i}.
            R_cam_to_world = np.array([[r[f"r{j}{i}"] for j in (1, 2, 3)] for i in (1, 2, 3)])
            position_m = np.array([r["x"], r["y"], r["z"]]) / 1000.0
            R = flip_x @ R_cam_to_world.T
            cameras.append(
                Camera(
                    name=serial,
                    size=(  # the window bounds are inclusive
                        int(win["right"] - win["left"]) + 1,
                        int(win["bottom"] - win["top"]) + 1,
                    ),
                    K=K,
                    dist=dist,
                    rvec=matrix_to_rodrigues(R),
                    tvec=-R @ position_m,
                )
            )
        except (KeyError, ValueError, RigFileError) as exc:
            raise RigFileError(f"{path}: camera {serial!r}: {_describe(exc)}") from None
    if not cameras:
        raise RigFileError(f"{path}: no <camera> elements")
    return Rig(tuple(cameras), {"imported_from": "qualisys", "source": path.name})


def load_rig(path: str | Path) -> Rig:
    """Any supported rig file, recognised by its name and content."""
    path = Path(path)
    if path.name.lower().endswith((".qca.txt", ".qca")):
        return read_qualisys(path)
    data = _load_toml(path)
    if isinstance(data.get("cameras"), dict):
        return read_caliscope(path)
    return read_rig(path)


def rig_calibration(config: RigConfig) -> Rig:
    """The calibration a rig's poses are computed in, cameras named by the rig's ids: the
    configured file (``inference.calibration``), else — every camera synthetic — the exact
    calibration of the synthetic cameras."""
    if config.inference.calibration is None:
        return synthetic_rig(config)
    return load_rig(config.inference.calibration).matched_to(config.camera_ids)
