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


def render_checkerboard_photo(
    columns: int,
    rows: int,
    rng: np.random.Generator,
    *,
    size: tuple[int, int] = (1088, 1920),
    span: tuple[float, float] = (0.92, 1.04),
    blur_px: tuple[float, float] = (1.0, 2.5),
    darkest: float = 0.35,
) -> tuple[ImageArray, FloatArray]:
    """A phone-like photo of a checkerboard of ``columns`` x ``rows`` squares held close: the
    board spans ``span`` of the image width (so its outer squares can be cut by the edge),
    tilted, in perspective, under uneven light (down to ``darkest`` of full) with a glare spot,
    blurred (focus and a little motion), noisy, JPEG-compressed; grey. Also the true (N, 2)
    inner corners, row by row."""
    w, h = size
    sq = 80
    tex = np.full((rows * sq, columns * sq), 255, np.uint8)
    for r in range(rows):
        for c in range(columns):
            if (r + c) % 2 == 0:
                tex[r * sq : (r + 1) * sq, c * sq : (c + 1) * sq] = 0
    th, tw = tex.shape
    scale = rng.uniform(*span) * w / tw
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
    dst = np.array([[-tw, -th], [tw, -th], [tw, th], [-tw, th]], np.float64) * scale / 2
    a = np.deg2rad(rng.uniform(-10, 10))
    dst = dst @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T
    dst[[[0, 1], [2, 3], [0, 3], [1, 2]][int(rng.integers(4))]] *= rng.uniform(0.7, 0.95)
    dst += [w / 2 + rng.uniform(-40, 40), h / 2 + rng.uniform(-120, 120)]
    homography = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    background = int(rng.uniform(90, 220))
    img = cv2.warpPerspective(tex, homography, (w, h), borderValue=background).astype(np.float64)
    yy, xx = np.mgrid[0:h, 0:w]
    gx, gy = rng.uniform(-1, 1, 2)
    img *= darkest + (1.0 - darkest) * (
        0.5 + 0.5 * np.tanh((gx * (xx - w / 2) + gy * (yy - h / 2)) / 400)
    )
    cx, cy, radius = (
        rng.uniform(0.2 * w, 0.8 * w),
        rng.uniform(0.2 * h, 0.8 * h),
        rng.uniform(80, 200),
    )
    img += 160 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2))
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), rng.uniform(*blur_px)), np.float64)
    k = int(rng.integers(5, 13))
    kernel = np.zeros((k, k))
    kernel[k // 2, :] = 1.0
    turn = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), rng.uniform(0, 180), 1)
    kernel = np.asarray(cv2.warpAffine(kernel, turn, (k, k)), np.float64)
    img = np.asarray(cv2.filter2D(img, -1, kernel / kernel.sum()), np.float64)
    img += rng.normal(0, 5, img.shape)
    _, buf = cv2.imencode(
        ".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 60]
    )
    photo = np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE), dtype=np.uint8)
    # a corner between pixels: pixel centres are at integers, so it lies at k * sq - 0.5
    inner = np.array(
        [[c * sq - 0.5, r * sq - 0.5] for r in range(1, rows) for c in range(1, columns)],
        np.float64,
    )
    corners = cv2.perspectiveTransform(inner.reshape(-1, 1, 2), homography).reshape(-1, 2)
    return photo, np.asarray(corners, np.float64)
