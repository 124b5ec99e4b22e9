"""Session-level steps: calibrate a session's cameras, triangulate its 2D poses, keep the
calibration in a project store.

The store keeps the calibration and the session description as plain-JSON project attributes
(``ProjectStore.set_attrs``), so they get the store's commit and crash safety; the 3D poses are
written next to it as files (CSV / netCDF) by the caller.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .board import BoardSpec, detect_images, detect_video, load_board
from .calibrate import CalibrationConfig, calibrate_detections
from .camera import CameraGroup
from .errors import CalibrationError
from .poses3d import Poses3D
from .session import MultiviewSession, Views2D
from .triangulate import TriangulationConfig, triangulate_points

__all__ = ["detect_session", "calibrate_session", "triangulate_views", "triangulate_session",
           "save_to_store", "load_from_store", "STORE_KEY"]

STORE_KEY = "multiview"


def detect_session(session: MultiviewSession, board: BoardSpec, *, video_step: int = 10) -> dict:
    """camera -> board detections in its calibration images (or every ``video_step``-th video frame)."""
    out = {}
    for cam, src in session.calibration_sources().items():
        out[cam] = detect_images(board, src) if isinstance(src, list) else detect_video(board, src, step=video_step)
    return out


def calibrate_session(session: MultiviewSession, board=None, config: CalibrationConfig | None = None,
                      *, detections: dict | None = None):
    """Detect the board and calibrate all cameras of ``session``; returns ``(CameraGroup, report)``."""
    if board is None:
        if session.board is None:
            raise CalibrationError(f"Session {session.name!r} names no board description.",
                                   hint="Pass --board board.toml (anipose's layout: board_x, board_y, square_length, "
                                   "marker_length, marker_bits, dict_size).")
        board = session.board
    if not isinstance(board, BoardSpec):
        board = load_board(board)
    dets = detections if detections is not None else detect_session(session, board)
    return calibrate_detections(dets, board, config)


def triangulate_views(views: Views2D, group: CameraGroup, config: TriangulationConfig | None = None) -> Poses3D:
    """Triangulate every (frame, individual, node) of ``views`` with the cameras of ``group``."""
    group = group.subset(views.cameras)
    c, t, i, k, _ = views.points.shape
    res = triangulate_points(group, views.points.reshape(c, -1, 2), views.scores.reshape(c, -1), config)

    def shape(a, *tail):
        return a.reshape(t, i, k, *tail)

    return Poses3D(points=shape(res.points3d, 3), error_px=shape(res.error_px), n_views=shape(res.n_views),
                   status=shape(res.status), used=shape(res.used, c), available=shape(res.available, c),
                   rejected=shape(res.rejected, c), view_error_px=shape(res.view_error_px, c), frames=views.frames,
                   cameras=list(views.cameras), individuals=list(views.individuals), node_names=list(views.node_names),
                   edges=list(views.edges))


def triangulate_session(session: MultiviewSession, group: CameraGroup | None = None, *, views=None,
                        config: TriangulationConfig | None = None, table: str = "auto",
                        allow_unequal: bool = False) -> Poses3D:
    """Load the 2D poses of ``session`` (optionally only ``views``) and triangulate them."""
    sess = session.select(views)
    if len(sess.cameras) < 2:
        raise CalibrationError(f"Triangulation needs at least 2 cameras; got {sess.names}.",
                               hint="Pass two or more camera names to --views.")
    group = sess.load_calibration() if group is None else group
    v = sess.load_views(table=table, allow_unequal=allow_unequal)
    return triangulate_views(v, group, config)


def save_to_store(store_path, group: CameraGroup, session: MultiviewSession | None = None, report=None) -> int:
    """Record the calibration (and session) in a project store's attributes; returns the commit."""
    from ..store import ProjectStore

    record = {"calibration": group.to_dict()}
    if session is not None:
        record["session"] = session.to_dict(relative_to=Path(store_path).parent)
    if report is not None:
        record["calibration_report"] = {"per_camera": report.per_camera, "dropped": report.dropped}
    store = ProjectStore.open(store_path, mode="r+")
    try:
        return store.set_attrs(**{STORE_KEY: _finite(record)})
    finally:
        store.close()


def load_from_store(store_path) -> CameraGroup:
    """The calibration recorded by :func:`save_to_store`."""
    from ..store import ProjectStore

    store = ProjectStore.open(store_path, mode="r")
    try:
        rec = store.get_attr(STORE_KEY)
    finally:
        store.close()
    if not rec or "calibration" not in rec:
        raise CalibrationError(f"The project {store_path} holds no camera calibration.", path=store_path,
                               hint="Run `posetrack calibrate SESSION --store PROJECT` first.")
    return CameraGroup.from_dict(rec["calibration"])


def _finite(v):
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v
