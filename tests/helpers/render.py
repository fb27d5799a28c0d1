"""Render a calibration board seen by a known camera (with distortion, blur and noise)."""

from __future__ import annotations

import cv2
import numpy as np

from syncpose.arrays import Float32Array, FloatArray, ImageArray
from syncpose.calibration.boards import BoardSpec
from syncpose.camera import Camera

_TEXTURES: dict[BoardSpec, tuple[ImageArray, float]] = {}


def board_texture(spec: BoardSpec, px_per_m: float = 8000.0) -> tuple[ImageArray, float]:
    """The board alone (no margin) as an image, and its pixels per metre."""
    if spec not in _TEXTURES:
        w = round(spec.columns * spec.square_m * px_per_m)
        h = round(spec.rows * spec.square_m * px_per_m)
        if spec.kind != "charuco":
            raise ValueError("only ChArUco boards are rendered here")
        img = spec.opencv_board().generateImage((w, h), marginSize=0, borderBits=1)
        if spec.inverted:
            img = 255 - img
        # A white margin around the board, as on paper.
        pad = round(0.02 * px_per_m)
        img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
        _TEXTURES[spec] = (np.asarray(img, dtype=np.uint8), px_per_m)
    return _TEXTURES[spec]


_MAPS: dict[str, Float32Array] = {}


def _distortion_map(camera: Camera) -> Float32Array:
    key = repr(camera.to_dict())
    if key not in _MAPS:
        w, h = camera.size
        grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), axis=-1).astype(np.float64)
        xy = camera.undistort(grid)
        _MAPS[key] = (xy @ camera.K[:2, :2].T + camera.K[:2, 2]).astype(np.float32)
    return _MAPS[key]


def render_view(
    spec: BoardSpec,
    camera: Camera,
    board_pose: FloatArray,
    rng: np.random.Generator,
    *,
    blur_px: float = 0.7,
    noise: float = 3.0,
) -> ImageArray:
    """The image ``camera`` takes of the board at ``board_pose`` (4x4, board -> world)."""
    tex, px_per_m = board_texture(spec)
    pad = round(0.02 * px_per_m)
    w, h = camera.size
    # Undistorted pinhole image via the homography texture -> image.
    tex_pts = np.array(
        [[0, 0], [tex.shape[1], 0], [tex.shape[1], tex.shape[0]], [0, tex.shape[0]]], float
    )
    board_xy = (tex_pts - pad) / px_per_m  # metres on the board plane (origin at its corner)
    world = np.c_[board_xy, np.zeros(4)] @ board_pose[:3, :3].T + board_pose[:3, 3]
    cam = camera.to_camera(world)
    uv = cam[:, :2] / cam[:, 2:] @ camera.K[:2, :2].T + camera.K[:2, 2]
    H = cv2.getPerspectiveTransform(tex_pts.astype(np.float32), uv.astype(np.float32))
    pinhole = cv2.warpPerspective(tex, H, (w, h), flags=cv2.INTER_AREA, borderValue=128)
    # Distort: each output pixel samples the pinhole image at its undistorted position.
    maps = _distortion_map(camera)
    img = cv2.remap(pinhole, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderValue=128)
    img = cv2.GaussianBlur(img, (0, 0), blur_px)
    img = img.astype(np.float64) + rng.normal(0.0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)
