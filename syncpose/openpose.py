"""2D keypoint files as input: OpenPose-format JSON, one file per frame per camera.

What users of OpenPose, RTMPose or Pose2Sim already have: a folder per camera (``cam01_json/``,
or named after the calibration's cameras), in it one file per frame, ordered by the last number
in the file name, each ``{"people": [{"pose_keypoints_2d": [x, y, c, x, y, c, …]}, …]}``.
The layout is told by the number of keypoints where that is unambiguous (17: COCO-17, 18:
OpenPose's COCO-18, 26: HALPE-26); 25 is BODY_25 or BODY_25B (Pose2Sim's default with
OpenPose), which differ, so it has to be named. A keypoint with confidence 0 (OpenPose's "not
found") is unknown. Bad files raise ValueError naming the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from syncpose.arrays import FloatArray
from syncpose.skeleton import BODY25, BODY25B, COCO17, COCO18, HALPE26, SkeletonMap

LAYOUTS: dict[str, SkeletonMap] = {
    "body25": BODY25,
    "body25b": BODY25B,
    "coco17": COCO17,
    "coco18": COCO18,
    "halpe26": HALPE26,
}
BY_LENGTH = {17: "coco17", 18: "coco18", 26: "halpe26"}
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class PersonKeypoints:
    """One person in one frame, in the project skeleton: ``points`` (J, 2) pixels (NaN =
    unknown), ``confidence`` (J,); ``raw`` (S, 3) as in the file."""

    points: FloatArray
    confidence: FloatArray
    raw: FloatArray


@dataclass
class CameraKeypoints:
    """One camera's files: ``frames`` the frame numbers (sorted), ``paths`` the files."""

    camera_id: str
    folder: Path
    frames: list[int]
    paths: list[Path]

    def __len__(self) -> int:
        return len(self.paths)


def camera_id_of(folder: Path) -> str:
    """``cam01_json`` -> ``cam01``: the camera a folder of keypoint files belongs to."""
    return re.sub(r"[_-]?json$", "", folder.name, flags=re.IGNORECASE) or folder.name


def find_cameras(root: str | Path) -> list[CameraKeypoints]:
    """The cameras' folders under ``root`` (sub-folders holding ``.json`` files, by name),
    each with its frame files in frame order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    folders = sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.json")))
    if len(folders) < 2:
        raise ValueError(
            f"{root}: need at least two camera folders of OpenPose JSON files (one per "
            f"camera, e.g. cam01_json/), found {len(folders)}"
        )
    cameras = []
    for folder in folders:
        numbered = []
        for path in folder.glob("*.json"):
            numbers = _NUMBER.findall(path.stem)
            if not numbers:
                raise ValueError(f"{path}: no frame number in the file name")
            numbered.append((int(numbers[-1]), path))
        numbered.sort()
        frames = [n for n, _ in numbered]
        if len(set(frames)) != len(frames):
            raise ValueError(f"{folder}: two files have the same frame number")
        cameras.append(
            CameraKeypoints(camera_id_of(folder), folder, frames, [p for _, p in numbered])
        )
    return cameras


def keypoint_count(path: Path) -> int | None:
    """Keypoints per person in the file (None: nobody in it)."""
    for person in _people(path):
        return len(person) // 3
    return None


def choose_layout(cameras: Sequence[CameraKeypoints], layout: str | None) -> SkeletonMap:
    """The layout named, or the one the files' keypoint count tells (ValueError when it cannot:
    25 keypoints, or a count no layout has)."""
    count = None
    for cam in cameras:
        for path in cam.paths:
            count = keypoint_count(path)
            if count is not None:
                break
        if count is not None:
            break
    if layout is not None:
        if layout not in LAYOUTS:
            raise ValueError(f"unknown keypoint layout {layout!r}; choose one of {sorted(LAYOUTS)}")
        chosen = LAYOUTS[layout]
        if count is not None and count != len(chosen.source_names):
            raise ValueError(
                f"the files have {count} keypoints per person, {layout} has "
                f"{len(chosen.source_names)}"
            )
        return chosen
    if count is None:
        raise ValueError("no person in any keypoint file: nothing to reconstruct")
    if count == 25:
        raise ValueError(
            "25 keypoints per person: BODY_25 or BODY_25B (Pose2Sim's default with OpenPose); "
            "say which with --layout body25 or --layout body25b"
        )
    if count not in BY_LENGTH:
        raise ValueError(
            f"{count} keypoints per person is none of the known layouts "
            f"({', '.join(f'{n}: {name}' for n, name in sorted(BY_LENGTH.items()))}, 25: body25 "
            "or body25b)"
        )
    return LAYOUTS[BY_LENGTH[count]]


def read_people(path: Path, layout: SkeletonMap) -> list[PersonKeypoints]:
    """Everyone in one frame's file, in the project skeleton, the largest first."""
    n = len(layout.source_names)
    out = []
    for flat in _people(path):
        if len(flat) != 3 * n:
            raise ValueError(
                f"{path}: a person has {len(flat) // 3} keypoints, {layout.name} has {n}"
            )
        raw = np.asarray(flat, dtype=np.float64).reshape(n, 3)
        conf = np.clip(np.nan_to_num(raw[:, 2]), 0.0, 1.0)
        xy = np.where(conf[:, None] > 0, raw[:, :2], np.nan)
        points, confidence = layout.apply(xy, conf)
        if (confidence > 0).sum() >= 2:
            out.append(PersonKeypoints(points, confidence, raw))
    return sorted(out, key=lambda p: -_size(p.points))


def _people(path: Path) -> list[list[float]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable OpenPose JSON file ({exc})"[:300]) from None
    people = data.get("people") if isinstance(data, dict) else None
    if not isinstance(people, list):
        raise ValueError(f"{path}: no 'people' list (not an OpenPose JSON file)")
    out = []
    for i, person in enumerate(people):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if (
            not isinstance(flat, list)
            or len(flat) % 3
            or not all(isinstance(v, int | float) for v in flat)
        ):
            raise ValueError(f"{path}: person {i} has no valid 'pose_keypoints_2d' list")
        if flat:
            out.append([float(v) for v in flat])
    return out


def _size(points: FloatArray) -> float:
    p = points[np.isfinite(points).all(-1)]
    return float(np.linalg.norm(p.max(0) - p.min(0))) if len(p) >= 2 else 0.0


def write_openpose(path: Path, people: Sequence[FloatArray]) -> None:
    """Write one frame's file: ``people`` each (S, 3) x, y, confidence (0 = not found)."""
    doc = {
        "version": 1.3,
        "people": [
            {"pose_keypoints_2d": [round(float(v), 3) for v in np.nan_to_num(p).reshape(-1)]}
            for p in people
        ],
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
