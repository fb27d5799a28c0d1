"""Calibration boards: ChArUco and checkerboard — definition, detection, printable sheets.

Detection uses the OpenCV 5 API: ``CharucoDetector.detectBoard`` then
``board.matchImagePoints`` (``calibrateCameraCharuco`` and friends are gone). A colour-inverted
board (white markers on black) is detected on the inverted image; ``inverted=None`` tries both.
"""

from __future__ import annotations

import tomllib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from syncpose.arrays import Float32Array, FloatArray, ImageArray, IntArray

PAPER_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A3": (297.0, 420.0),
    "letter": (215.9, 279.4),
    "tabloid": (279.4, 431.8),
}


class BoardError(ValueError):
    """A board definition that cannot be used, with the reason."""


@dataclass(frozen=True)
class BoardSpec:
    """A calibration board.

    ``kind`` 'charuco': ``columns`` x ``rows`` squares, ArUco markers of ``marker_ratio`` x the
    square from ``dictionary``. 'checkerboard': ``columns`` x ``rows`` squares (so
    (columns-1) x (rows-1) inner corners). ``square_m`` is the printed square side in metres.
    ``inverted``: True for a colour-inverted print, None to try both.
    """

    kind: Literal["charuco", "checkerboard"]
    columns: int
    rows: int
    square_m: float
    marker_ratio: float = 0.75
    dictionary: str = "DICT_4X4_1000"
    inverted: bool | None = False

    def __post_init__(self) -> None:
        if self.columns < 2 or self.rows < 2:
            raise BoardError(f"a board needs at least 2x2 squares, got {self.columns}x{self.rows}")
        if not self.square_m > 0:
            raise BoardError(f"square size must be positive, got {self.square_m} m")
        if self.kind == "charuco":
            if not 0.1 <= self.marker_ratio < 1.0:
                raise BoardError(f"marker_ratio {self.marker_ratio} must be in [0.1, 1)")
            if not hasattr(cv2.aruco, self.dictionary):
                raise BoardError(f"unknown ArUco dictionary {self.dictionary!r}")

    @property
    def n_corners(self) -> int:
        """Number of inner corners (the points that are detected)."""
        return (self.columns - 1) * (self.rows - 1)

    def object_points(self) -> FloatArray:
        """(n_corners, 3) corner positions on the board plane (metres, z = 0), by corner id."""
        if self.kind == "charuco":
            return np.asarray(self.opencv_board().getChessboardCorners(), dtype=np.float64)
        ii, jj = np.meshgrid(np.arange(self.columns - 1), np.arange(self.rows - 1))
        xy = np.stack([ii.ravel() + 1, jj.ravel() + 1], axis=1) * self.square_m
        return np.hstack([xy, np.zeros((len(xy), 1))])

    def opencv_board(self) -> cv2.aruco.CharucoBoard:
        if self.kind != "charuco":
            raise BoardError("only ChArUco boards have an OpenCV board object")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard(
            (self.columns, self.rows), self.square_m, self.square_m * self.marker_ratio, dictionary
        )

    def describe(self) -> str:
        size = f"{self.columns}x{self.rows} squares of {self.square_m * 1000:.1f} mm"
        if self.kind == "charuco":
            inv = ", colour-inverted" if self.inverted else ""
            return f"ChArUco {size}, markers {self.marker_ratio:g} x square, {self.dictionary}{inv}"
        return f"checkerboard {size}"


def read_caliscope_charuco(path: str | Path) -> BoardSpec:
    """A board from Caliscope's ``charuco.toml`` (``square_size_override_cm`` wins over units)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
        if "square_size_override_cm" in data:
            square_m = float(data["square_size_override_cm"]) / 100.0
        else:
            per_unit = {"inch": 0.0254, "cm": 0.01, "mm": 0.001}[str(data.get("units", "inch"))]
            square_m = float(data["board_width"]) * per_unit / int(data["columns"])
        return BoardSpec(
            kind="charuco",
            columns=int(data["columns"]),
            rows=int(data["rows"]),
            square_m=square_m,
            marker_ratio=float(data.get("aruco_scale", 0.75)),
            dictionary=str(data.get("dictionary", "DICT_4X4_1000")),
            inverted=bool(data.get("inverted", False)),
        )
    except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise BoardError(f"{path}: cannot read the board: {exc}") from None


@dataclass(frozen=True)
class Detection:
    """Board corners found in one image: ``corners`` (N, 2) pixels, ``ids`` (N,) corner ids."""

    corners: FloatArray
    ids: IntArray
    inverted: bool = False

    @property
    def count(self) -> int:
        return len(self.ids)


class BoardDetector:
    """Finds a board's corners in images (BGR or grey)."""

    def __init__(self, spec: BoardSpec) -> None:
        self.spec = spec
        if spec.kind == "charuco":
            self._board = spec.opencv_board()
            # OpenCV's default: a corner needs two adjacent markers. Accepting corners next to a
            # single marker (minMarkers=1) adds edge corners that are placed less accurately.
            self._charuco = cv2.aruco.CharucoDetector(self._board)
        self._object_points = spec.object_points()

    def detect(self, image: ImageArray) -> Detection:
        """Corners of the board in ``image``; an empty detection when it is not seen."""
        gray = np.asarray(
            image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8
        )
        attempts = [self.spec.inverted] if self.spec.inverted is not None else [False, True]
        best = Detection(np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
        for inverted in attempts:
            src = 255 - gray if inverted else gray
            found = self._detect(src, inverted)
            if found.count > best.count:
                best = found
        return best

    def _detect(self, gray: ImageArray, inverted: bool) -> Detection:
        if self.spec.kind == "charuco":
            corners, ids, _, _ = self._charuco.detectBoard(gray)
            if ids is None or len(ids) == 0:
                return Detection(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), inverted)
            return Detection(
                np.asarray(corners, dtype=np.float64).reshape(-1, 2),
                np.asarray(ids, dtype=np.int64).reshape(-1),
                inverted,
            )
        pts = find_checkerboard(gray, (self.spec.columns - 1, self.spec.rows - 1))
        if pts is None:
            return Detection(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), inverted)
        return Detection(pts, np.arange(len(pts), dtype=np.int64), inverted)

    def object_points(self, detection: Detection) -> FloatArray:
        """(N, 3) board coordinates of the detected corners (metres, z = 0)."""
        return self._object_points[detection.ids]


#: The longest image side the classic checkerboard detector searches (it is slow on large
#: images); its corners are then refined on the full image.
_CLASSIC_SIDE = 1000


def find_checkerboard(gray: ImageArray, pattern: tuple[int, int]) -> FloatArray | None:
    """(N, 2) inner corners of a checkerboard of ``pattern`` (columns, rows of inner corners)
    in the grey image, row by row, or None.

    Two detectors, because each finds boards the other misses: the sector-based one
    (``findChessboardCornersSB``, accurate, robust to blur and noise), then, where it fails,
    the classic one (``findChessboardCorners`` with adaptive thresholding and image
    normalisation, which copes better with deep shadows) on an image of at most
    ``_CLASSIC_SIDE`` pixels, its corners refined to sub-pixel accuracy there and then on the
    full image. The classic one's fast check keeps frames without a board cheap.
    """
    ok, corners = cv2.findChessboardCornersSB(gray, pattern)
    if ok and corners is not None:
        return np.asarray(corners, dtype=np.float64).reshape(-1, 2)
    scale = min(1.0, _CLASSIC_SIDE / max(gray.shape))
    small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale,
                                                 interpolation=cv2.INTER_AREA)  # fmt: skip
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    ok, corners = cv2.findChessboardCorners(small, pattern, flags=flags)
    if not ok or corners is None:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.01)
    coarse = np.asarray(corners, dtype=np.float32).reshape(-1, 1, 2)
    window = _window(coarse, pattern)
    coarse = np.asarray(cv2.cornerSubPix(small, coarse, window, (-1, -1), criteria), np.float32)
    pts = (coarse + 0.5) / scale - 0.5  # pixel centres at integers on both grids
    refined = cv2.cornerSubPix(gray, pts, _window(pts, pattern), (-1, -1), criteria)
    return np.asarray(refined, dtype=np.float64).reshape(-1, 2)


def _window(corners: Float32Array, pattern: tuple[int, int]) -> tuple[int, int]:
    """cornerSubPix's half window for corners (N, 1, 2) of ``pattern``: well inside a square."""
    grid = corners.reshape(pattern[1], pattern[0], 2)
    spacing = float(np.median(np.linalg.norm(np.diff(grid, axis=1), axis=-1)))
    half = int(np.clip(spacing * 0.3, 3, 21))
    return half, half


# --- printable boards ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrintableBoard:
    """A board rendered for a sheet of paper: ``image`` grey, ``dpi``, ``paper`` size in mm."""

    image: ImageArray
    dpi: float
    paper_mm: tuple[float, float]

    def save_png(self, path: str | Path) -> None:
        if not cv2.imwrite(str(path), self.image):
            raise OSError(f"could not write {path}")

    def save_pdf(self, path: str | Path) -> None:
        """A one-page PDF of the sheet at its exact physical size (lossless grey image)."""
        h, w = self.image.shape
        page_w, page_h = (mm / 25.4 * 72.0 for mm in self.paper_mm)
        data = zlib.compress(np.ascontiguousarray(self.image).tobytes(), 9)
        content = f"q {page_w:.4f} 0 0 {page_h:.4f} 0 0 cm /Im0 Do Q".encode()
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page_w:.4f} {page_h:.4f}] "
                "/Resources << /XObject << /Im0 5 0 R >> >> /Contents 4 0 R >>"
            ).encode(),
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            (
                f"<< /Type /XObject /Subtype /Image /Width {w} /Height {h} "
                f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                f"/Length {len(data)} >>\nstream\n"
            ).encode()
            + data
            + b"\nendstream",
        ]
        out = bytearray(b"%PDF-1.4\n")
        offsets = []
        for i, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1,
            xref,
        )
        Path(path).write_bytes(bytes(out))


def render_board(spec: BoardSpec, paper: str = "A4", dpi: float = 300.0) -> PrintableBoard:
    """The board at its true size, centred on the sheet, its parameters printed below it."""
    if paper not in PAPER_MM:
        raise BoardError(f"unknown paper {paper!r}; choose one of {sorted(PAPER_MM)}")
    paper_mm = PAPER_MM[paper]
    board_mm = (spec.columns * spec.square_m * 1000.0, spec.rows * spec.square_m * 1000.0)
    if board_mm[0] > paper_mm[0] - 10 or board_mm[1] > paper_mm[1] - 25:
        if board_mm[1] <= paper_mm[0] - 10 and board_mm[0] <= paper_mm[1] - 25:
            paper_mm = (paper_mm[1], paper_mm[0])  # landscape fits
        else:
            raise BoardError(
                f"a {board_mm[0]:.0f} x {board_mm[1]:.0f} mm board does not fit on {paper}; "
                "choose a larger paper or smaller squares"
            )
    px_per_mm = dpi / 25.4
    sheet = np.full(
        (round(paper_mm[1] * px_per_mm), round(paper_mm[0] * px_per_mm)), 255, dtype=np.uint8
    )
    bw, bh = round(board_mm[0] * px_per_mm), round(board_mm[1] * px_per_mm)
    if spec.kind == "charuco":
        board_img = spec.opencv_board().generateImage((bw, bh), marginSize=0, borderBits=1)
    else:
        sq = bw / spec.columns
        yy, xx = np.mgrid[0:bh, 0:bw]
        board_img = np.where(((xx // sq).astype(int) + (yy // sq).astype(int)) % 2 == 0, 0, 255)
        board_img = board_img.astype(np.uint8)
    if spec.inverted:
        board_img = 255 - board_img
    top = round((sheet.shape[0] - bh) / 2 - 8 * px_per_mm)
    left = round((sheet.shape[1] - bw) / 2)
    sheet[top : top + bh, left : left + bw] = board_img
    text = f"syncpose | {spec.describe()} | print at 100% ({paper}, {dpi:g} dpi)"
    scale = 0.35 * dpi / 100.0
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    org = (
        max(0, (sheet.shape[1] - tw) // 2),
        min(sheet.shape[0] - 10, top + bh + round(10 * px_per_mm)),
    )
    cv2.putText(
        sheet, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, 0, max(1, round(dpi / 150)), cv2.LINE_AA
    )
    return PrintableBoard(sheet, dpi, paper_mm)
