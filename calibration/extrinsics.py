"""Extrinsic calibration: camera poses from shared board views, then a global bundle adjustment.

1. Board pose in every camera that sees it with enough corners (PnP).
2. For each camera pair, the relative pose from every frame both saw; the medoid of those
   (the candidate closest to all others) resists bad frames.
3. Poses are chained over the maximum spanning tree of the camera graph (edge weight = frames
   shared) from the best-connected camera, which defines the first world frame.
4. Bundle adjustment (``scipy.optimize.least_squares``, sparse Jacobian, soft-L1 loss in
   pixels) over all camera poses (the root's fixed), every board pose and each camera's
   intrinsics (focal length, principal point, k1, k2). Metric scale comes from the board.
5. The world frame is then moved onto a board pose: origin at its first corner, X along its
   rows, Z up out of its face (for a board lying face up on the floor, Z up from the floor).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from scipy.optimize import least_squares
from scipy.sparse import lil_matrix

from syncpose.arrays import FloatArray, IntArray
from syncpose.calibration.boards import BoardDetector, Detection
from syncpose.calibration.intrinsics import CalibrationError
from syncpose.camera import Camera, Rig, matrix_to_rodrigues, rodrigues_to_matrix

logger = logging.getLogger(__name__)

Pose = FloatArray  # (4, 4) homogeneous transform
#: ``detections[camera][frame]``; a frame key (any hashable) means one moment for all cameras.
Detections = Mapping[str, Mapping[Any, Detection]]

#: Board frame -> world frame for a board lying face up: x stays, y and z flip (Z up).
BOARD_TO_Z_UP = np.diag([1.0, -1.0, -1.0])


def _pose(rvec: npt.ArrayLike, tvec: npt.ArrayLike) -> Pose:
    T = np.eye(4)
    T[:3, :3] = rodrigues_to_matrix(rvec)
    T[:3, 3] = np.asarray(tvec, dtype=np.float64).reshape(3)
    return T


def _inv(T: Pose) -> Pose:
    out = np.eye(4)
    out[:3, :3] = T[:3, :3].T
    out[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return out


def _pose_distance(a: Pose, b: Pose) -> float:
    """Rotation angle (rad) plus translation distance (m) between two poses."""
    R = a[:3, :3].T @ b[:3, :3]
    angle = float(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)))
    return angle + float(np.linalg.norm(a[:3, 3] - b[:3, 3]))


def _medoid(poses: list[Pose]) -> Pose:
    if len(poses) <= 2:
        return poses[0]
    costs = [sum(_pose_distance(p, q) for q in poses) for p in poses]
    return poses[int(np.argmin(costs))]


@dataclass
class ExtrinsicsResult:
    """The calibrated rig (world = the chosen board pose) and its quality."""

    rig: Rig
    rms_px: dict[str, float]
    observations: dict[str, int]
    board_poses: dict[Any, Pose] = field(default_factory=dict)  # board -> world
    world_frame: str = ""


def calibrate_extrinsics(
    cameras: list[Camera],
    detections: Detections,
    detector: BoardDetector,
    *,
    min_corners: int = 6,
    refine_intrinsics: bool = True,
    floor_frame: Hashable | None = None,
) -> ExtrinsicsResult:
    """Calibrate the poses of ``cameras`` (intrinsics known) from board ``detections``.

    ``detections[camera][frame]``: the board seen by ``camera`` at ``frame``, where the same
    ``frame`` key means the same moment for every camera. ``floor_frame``: the frame whose board
    pose defines the world (default: the frame seen by most cameras).
    """
    names = [c.name for c in cameras]
    cam_by_name = {c.name: c for c in cameras}
    # 1. Board pose per camera and frame.
    pnp: dict[str, dict[Any, Pose]] = {n: {} for n in names}
    for name in names:
        cam = cam_by_name[name]
        for frame, det in detections.get(name, {}).items():
            if det.count < min_corners:
                continue
            obj = detector.object_points(det)
            ok, rvec, tvec = cv2.solvePnP(
                obj, det.corners, cam.K, cam.dist, flags=cv2.SOLVEPNP_IPPE
            )
            if ok:
                pnp[name][frame] = _pose(rvec.reshape(3), tvec.reshape(3))
    for name in names:
        if not pnp[name]:
            raise CalibrationError(
                f"camera {name}: the board was never seen well enough (>= {min_corners} corners); "
                "show the whole board to this camera"
            )
    # 2-3. Relative poses over the maximum spanning tree.
    shared = {
        (a, b): sorted(set(pnp[a]) & set(pnp[b]), key=str)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    }
    degree = {n: sum(len(v) for (a, b), v in shared.items() if n in (a, b)) for n in names}
    root = max(names, key=lambda n: degree[n])
    cam_from_root: dict[str, Pose] = {root: np.eye(4)}
    while len(cam_from_root) < len(names):
        best: tuple[int, str, str] | None = None
        for (a, b), frames in shared.items():
            for known, new in ((a, b), (b, a)):
                grows = known in cam_from_root and new not in cam_from_root and frames
                if grows and (best is None or len(frames) > best[0]):
                    best = (len(frames), known, new)
        if best is None:
            alone = [n for n in names if n not in cam_from_root]
            raise CalibrationError(
                f"camera(s) {', '.join(alone)} share no board view with the others: hold the "
                "board where these cameras and at least one calibrated camera see it at once"
            )
        _, known, new = best
        frames = shared[(known, new)] if (known, new) in shared else shared[(new, known)]
        candidates = [pnp[new][f] @ _inv(pnp[known][f]) for f in frames]  # new <- known
        cam_from_root[new] = _medoid(candidates) @ cam_from_root[known]
    # Board poses in the root frame.
    frames_all = sorted({f for n in names for f in pnp[n]}, key=str)
    root_from_board: dict[Any, Pose] = {}
    for f in frames_all:
        cands = [_inv(cam_from_root[n]) @ pnp[n][f] for n in names if f in pnp[n]]
        root_from_board[f] = _medoid(cands)
    # 4. Bundle adjustment.
    cams, boards = _bundle_adjust(
        [cam_by_name[n] for n in names],
        [cam_from_root[n] for n in names],
        names.index(root),
        root_from_board,
        detections,
        detector,
        min_corners,
        refine_intrinsics,
    )
    # 5. World frame on a board pose.
    if floor_frame is None:
        floor_frame = max(frames_all, key=lambda f: sum(f in pnp[n] for n in names))
    if floor_frame not in boards:
        raise CalibrationError(f"frame {floor_frame!r} has no board pose to set the floor from")
    world_from_root = _world_from_board(boards[floor_frame])
    rig_cams = []
    for cam in cams:
        T = _pose(cam.rvec, cam.tvec) @ _inv(world_from_root)  # cam <- world
        rig_cams.append(cam.with_pose(matrix_to_rodrigues(T[:3, :3]), T[:3, 3]))
    rig = Rig(tuple(rig_cams), {"world_frame": f"board at frame {floor_frame}, Z up"})
    rms, counts = _rms_per_camera(rig, boards, world_from_root, detections, detector, min_corners)
    board_world = {f: world_from_root @ T for f, T in boards.items()}
    return ExtrinsicsResult(rig, rms, counts, board_world, str(floor_frame))


def reframe(result: ExtrinsicsResult, frame: Any) -> ExtrinsicsResult:
    """The same calibration with the world moved onto the board pose of ``frame``."""
    if frame not in result.board_poses:
        raise CalibrationError(f"no board pose at frame {frame!r} to set the floor from")
    new_from_old = _world_from_board(result.board_poses[frame])
    cams = []
    for cam in result.rig.cameras:
        T = _pose(cam.rvec, cam.tvec) @ _inv(new_from_old)
        cams.append(cam.with_pose(matrix_to_rodrigues(T[:3, :3]), T[:3, 3]))
    metadata = {**result.rig.metadata, "world_frame": f"board at frame {frame}, Z up"}
    return ExtrinsicsResult(
        Rig(tuple(cams), metadata),
        result.rms_px,
        result.observations,
        {f: new_from_old @ T for f, T in result.board_poses.items()},
        str(frame),
    )


def _world_from_board(root_from_board: Pose) -> Pose:
    """world <- root, such that the board's first corner is the origin and Z points out of it."""
    world_from_board = np.eye(4)
    world_from_board[:3, :3] = BOARD_TO_Z_UP
    return world_from_board @ _inv(root_from_board)


def _observations(
    detections: Detections,
    names: list[str],
    frames: list[Hashable],
    detector: BoardDetector,
    min_corners: int,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Flat arrays: camera index, frame index, board point (N, 3), pixel (N, 2)."""
    frame_index = {f: i for i, f in enumerate(frames)}
    ci, fi, obj, img = [], [], [], []
    for c, name in enumerate(names):
        for f, det in detections.get(name, {}).items():
            if det.count < min_corners or f not in frame_index:
                continue
            ci.append(np.full(det.count, c))
            fi.append(np.full(det.count, frame_index[f]))
            obj.append(detector.object_points(det))
            img.append(det.corners)
    return (
        np.concatenate(ci).astype(np.int64),
        np.concatenate(fi).astype(np.int64),
        np.concatenate(obj),
        np.concatenate(img),
    )


def _bundle_adjust(
    cameras: list[Camera],
    cam_from_root: list[Pose],
    root: int,
    root_from_board: dict[Any, Pose],
    detections: Detections,
    detector: BoardDetector,
    min_corners: int,
    refine_intrinsics: bool,
) -> tuple[list[Camera], dict[Any, Pose]]:
    names = [c.name for c in cameras]
    frames = list(root_from_board)
    ci, fi, obj, img = _observations(detections, names, frames, detector, min_corners)
    C, F = len(cameras), len(frames)
    n_int = 5 if refine_intrinsics else 0  # f, cx, cy, k1, k2

    # Parameter layout: [camera poses (6 each) | board poses (6 each) | intrinsics (5 each)].
    def pose_params(T: Pose) -> FloatArray:
        return np.concatenate([matrix_to_rodrigues(T[:3, :3]), T[:3, 3]])

    intrinsics = [
        np.array([(c.K[0, 0] + c.K[1, 1]) / 2, c.K[0, 2], c.K[1, 2], c.dist[0], c.dist[1]])
        for c in cameras
        if refine_intrinsics
    ]
    x0 = np.concatenate(
        [pose_params(T) for T in cam_from_root]
        + [pose_params(root_from_board[f]) for f in frames]
        + intrinsics
    )
    fixed_dist = [c.dist.copy() for c in cameras]
    cam_off, board_off, int_off = 0, 6 * C, 6 * C + 6 * F

    def unpack_camera(x: FloatArray, c: int) -> Camera:
        cam = cameras[c]
        rvec, tvec = x[6 * c : 6 * c + 3], x[6 * c + 3 : 6 * c + 6]
        if not refine_intrinsics:
            return cam.with_pose(rvec, tvec)
        f, cx, cy, k1, k2 = x[int_off + n_int * c : int_off + n_int * (c + 1)]
        K = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
        dist = fixed_dist[c].copy()
        dist[0], dist[1] = k1, k2
        return Camera(cam.name, cam.size, K, dist, rvec, tvec)

    def residuals(x: FloatArray) -> FloatArray:
        out = np.empty((len(ci), 2))
        board_R = [
            rodrigues_to_matrix(x[board_off + 6 * j : board_off + 6 * j + 3]) for j in range(F)
        ]
        pts = np.empty_like(obj)
        for j in range(F):
            sel = fi == j
            pts[sel] = obj[sel] @ board_R[j].T + x[board_off + 6 * j + 3 : board_off + 6 * j + 6]
        for c in range(C):
            sel = ci == c
            out[sel] = unpack_camera(x, c).project(pts[sel]) - img[sel]
        return np.nan_to_num(out, nan=1e3).ravel()

    n_params = len(x0)
    sparsity = lil_matrix((2 * len(ci), n_params), dtype=np.int8)
    rows = np.arange(len(ci))
    for k in range(6):
        for r in (2 * rows, 2 * rows + 1):
            sparsity[r, cam_off + 6 * ci + k] = 1
            sparsity[r, board_off + 6 * fi + k] = 1
    if refine_intrinsics:
        for k in range(n_int):
            for r in (2 * rows, 2 * rows + 1):
                sparsity[r, int_off + n_int * ci + k] = 1
    # The root camera's pose is the gauge: remove its columns by zeroing them out.
    keep = np.ones(n_params, dtype=bool)
    keep[6 * root : 6 * root + 6] = False

    def residuals_free(xf: FloatArray) -> FloatArray:
        x = x0.copy()
        x[keep] = xf
        return residuals(x)

    result = least_squares(
        residuals_free,
        x0[keep],
        jac_sparsity=sparsity.tocsc()[:, keep],
        loss="soft_l1",
        f_scale=1.0,
        x_scale="jac",
        method="trf",
        max_nfev=200,
    )
    x = x0.copy()
    x[keep] = result.x
    logger.info(
        "bundle adjustment: %s, cost %.3f -> %.3f",
        result.message,
        0.5 * np.sum(residuals(x0) ** 2),
        result.cost,
    )
    cams = [unpack_camera(x, c) for c in range(C)]
    boards = {
        f: _pose(
            x[board_off + 6 * j : board_off + 6 * j + 3],
            x[board_off + 6 * j + 3 : board_off + 6 * j + 6],
        )
        for j, f in enumerate(frames)
    }
    return cams, boards


def _rms_per_camera(
    rig: Rig,
    root_from_board: dict[Any, Pose],
    world_from_root: Pose,
    detections: Detections,
    detector: BoardDetector,
    min_corners: int,
) -> tuple[dict[str, float], dict[str, int]]:
    rms, counts = {}, {}
    for cam in rig.cameras:
        sq, n = 0.0, 0
        for f, det in detections.get(cam.name, {}).items():
            if det.count < min_corners or f not in root_from_board:
                continue
            T = world_from_root @ root_from_board[f]
            pts = detector.object_points(det) @ T[:3, :3].T + T[:3, 3]
            err = cam.project(pts) - det.corners
            sq += float(np.sum(err**2))
            n += det.count
        rms[cam.name] = float(np.sqrt(sq / n)) if n else float("nan")
        counts[cam.name] = n
    return rms, counts
