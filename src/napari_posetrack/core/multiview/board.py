"""Calibration boards (ChArUco or plain checkerboard) and corner detection.

A board file is anipose's ``board.toml``::

    board_x = 8            # squares along x
    board_y = 11           # squares along y
    square_length = 24.0   # in world units (mm)
    marker_length = 18.75  # ChArUco only
    marker_bits = 4        # ChArUco only
    dict_size = 1000       # ChArUco only: DICT_<bits>X<bits>_<size>

Without ``marker_length`` the board is a plain checkerboard. Corner ``i`` of the board is the
inner corner at row ``i // (board_x - 1)``, column ``i % (board_x - 1)``, located at
``((col + 1) * square, (row + 1) * square, 0)``: OpenCV's ChArUco numbering.

Detection uses OpenCV (imported inside the functions; ``pip install
'napari-posetrack[multiview]'``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .camera import read_toml
from .errors import CalibrationError, require_cv2

__all__ = ["BoardSpec", "Detection", "load_board", "detect_image", "detect_images", "detect_video",
           "view_key"]

_DICTS = {4: (50, 100, 250, 1000), 5: (50, 100, 250, 1000), 6: (50, 100, 250, 1000), 7: (50, 100, 250, 1000)}


@dataclass(frozen=True)
class BoardSpec:
    """A planar calibration board; ``marker_length`` None means a plain checkerboard."""

    squares_x: int
    squares_y: int
    square_length: float
    marker_length: float | None = None
    marker_bits: int = 4
    dict_size: int = 50

    def __post_init__(self):
        if self.squares_x < 2 or self.squares_y < 2:
            raise CalibrationError(f"A board needs at least 2x2 squares; got {self.squares_x}x{self.squares_y}.",
                                   hint="board_x and board_y count squares, not inner corners.")
        if self.square_length <= 0:
            raise CalibrationError(f"square_length must be positive; got {self.square_length}.")
        if self.marker_length is not None:
            if not 0 < self.marker_length < self.square_length:
                raise CalibrationError(
                    f"marker_length ({self.marker_length}) must be between 0 and square_length "
                    f"({self.square_length}).", hint="Measure the printed board again.")
            if self.marker_bits not in _DICTS or self.dict_size not in _DICTS[self.marker_bits]:
                raise CalibrationError(
                    f"No ArUco dictionary of {self.marker_bits}x{self.marker_bits} bits and size {self.dict_size}.",
                    hint="marker_bits is 4 to 7 and dict_size one of 50, 100, 250, 1000.")

    @property
    def is_charuco(self) -> bool:
        return self.marker_length is not None

    @property
    def n_corners(self) -> int:
        return (self.squares_x - 1) * (self.squares_y - 1)

    @property
    def object_points(self) -> np.ndarray:
        """(n_corners, 3) inner-corner coordinates in board units."""
        nx = self.squares_x - 1
        i = np.arange(self.n_corners)
        return np.stack([(i % nx + 1) * self.square_length, (i // nx + 1) * self.square_length,
                         np.zeros(self.n_corners)], -1).astype(np.float64)

    def to_dict(self) -> dict:
        d = {"board_x": self.squares_x, "board_y": self.squares_y, "square_length": self.square_length}
        if self.is_charuco:
            d.update(marker_length=self.marker_length, marker_bits=self.marker_bits, dict_size=self.dict_size)
        return d

    @classmethod
    def from_dict(cls, d: dict, *, where: str = "the board description") -> BoardSpec:
        missing = [k for k in ("board_x", "board_y", "square_length") if k not in d]
        if missing:
            raise CalibrationError(f"{where} lacks {missing}; it has {sorted(d)}.",
                                   hint="A board needs board_x, board_y (squares), square_length, and for ChArUco "
                                   "marker_length, marker_bits, dict_size (anipose's board.toml).")
        return cls(int(d["board_x"]), int(d["board_y"]), float(d["square_length"]),
                   None if d.get("marker_length") is None else float(d["marker_length"]),
                   int(d.get("marker_bits", 4)), int(d.get("dict_size", 50)))

    # ------------------------------------------------------------------ OpenCV objects
    def _cv_board(self):
        cv2 = require_cv2()
        name = f"DICT_{self.marker_bits}X{self.marker_bits}_{self.dict_size}"
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, name))
        board = cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), float(self.square_length),
                                       float(self.marker_length), dictionary)
        return board


def load_board(path) -> BoardSpec:
    """Read a ``board.toml`` (anipose layout; see the module docstring)."""
    return BoardSpec.from_dict(read_toml(path), where=str(path))


@dataclass
class Detection:
    """Board corners found in one image: ``ids`` (M,) into the board's corners, ``corners`` (M, 2) px."""

    key: int
    source: str
    ids: np.ndarray
    corners: np.ndarray
    image_size: tuple[int, int] = (0, 0)
    note: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


_TRAILING_INT = re.compile(r"(\d+)(?!.*\d)")


def view_key(path, position: int) -> int:
    """Synchronisation key of a calibration image: the last integer of its name, else its position.

    ``back-02242022135219-7.jpg`` -> 7, so ``mid-...-7.jpg`` is the same instant in another camera.
    """
    m = _TRAILING_INT.search(Path(path).stem)
    return int(m.group(1)) if m else int(position)


class _Detector:
    def __init__(self, board: BoardSpec):
        self.cv2 = cv2 = require_cv2()
        self.board = board
        if board.is_charuco:
            self._det = cv2.aruco.CharucoDetector(board._cv_board())

    def __call__(self, gray) -> tuple[np.ndarray, np.ndarray]:
        cv2 = self.cv2
        if self.board.is_charuco:
            cc, ci, _, _ = self._det.detectBoard(gray)
            if ci is None or len(ci) == 0:
                return np.zeros(0, np.int64), np.zeros((0, 2))
            return ci.ravel().astype(np.int64), cc.reshape(-1, 2).astype(np.float64)
        pattern = (self.board.squares_x - 1, self.board.squares_y - 1)
        ok, corners = cv2.findChessboardCorners(gray, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH
                                                | cv2.CALIB_CB_NORMALIZE_IMAGE)
        if not ok:
            return np.zeros(0, np.int64), np.zeros((0, 2))
        corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1),
                                   (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01))
        return np.arange(self.board.n_corners), corners.reshape(-1, 2).astype(np.float64)


def detect_image(board: BoardSpec, image, *, key: int = 0, source: str = "") -> Detection:
    """Corners of ``board`` in one image (array H x W [x C], or a path)."""
    det = _Detector(board)
    return _detect_one(det, image, key, source)


def _detect_one(det: _Detector, image, key, source) -> Detection:
    cv2 = det.cv2
    if isinstance(image, (str, Path)):
        arr = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE)
        if arr is None:
            raise CalibrationError(f"Cannot read the image {image}.", path=image,
                                   hint="Check that it is a readable .jpg/.png file.")
        source = source or Path(image).name
    else:
        arr = np.asarray(image)
        if arr.ndim == 3:
            arr = cv2.cvtColor(arr.astype(np.uint8), cv2.COLOR_RGB2GRAY if arr.shape[2] == 3 else cv2.COLOR_RGBA2GRAY)
        arr = arr.astype(np.uint8)
    ids, corners = det(arr)
    return Detection(key, source, ids, corners, (arr.shape[1], arr.shape[0]))


def detect_images(board: BoardSpec, paths) -> list[Detection]:
    """Detections in image files; each keyed by :func:`view_key` (its synchronisation index)."""
    det = _Detector(board)
    paths = [Path(p) for p in paths]
    return [_detect_one(det, p, view_key(p, i), p.name) for i, p in enumerate(paths)]


def detect_video(board: BoardSpec, path, *, step: int = 1, max_frames: int | None = None) -> list[Detection]:
    """Detections in every ``step``-th frame of a video; keyed by frame index."""
    from ..video import open_video

    det = _Detector(board)
    reader = open_video(path)
    n = len(reader)
    idx = list(range(0, n, max(1, step)))[: max_frames or None]
    out = []
    for i in idx:
        out.append(_detect_one(det, np.asarray(reader[i]), i, f"{Path(path).name}#{i}"))
    return out
