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

__all__ = ["detect_session", "calibrate_session", "triangulate_views", "triangulate_session", "estimate_offsets",
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
    poses = triangulate_views(v, group, config)
    poses.offsets = {c.name: int(c.offset) for c in sess.cameras}
    return poses


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


def estimate_offsets(session: MultiviewSession, group: CameraGroup | None = None, *, max_shift: int = 30,
                     table: str = "auto") -> tuple[dict, dict]:
    """Frame offsets that synchronise the cameras, found from the 2D labels.

    For each camera and each shift in ``[-max_shift, max_shift]``, the nodes seen by it and by
    the first camera on paired frames are triangulated from those two views; the shift with the
    lowest median reprojection error wins. Returns ``(offsets, errors)``: offsets >= 0 for the
    session file (session frame t = camera frame t + offset), and per camera the median error
    (px) of every shift tried. It needs the animal to move: a still animal fits every shift.
    """
    import dataclasses

    from .triangulate import TriangulationConfig

    group = session.load_calibration() if group is None else group.subset(session.names)
    flat = dataclasses.replace(session, cameras=[dataclasses.replace(c, offset=0) for c in session.cameras])
    counts = flat.frame_counts()
    longest = max(counts.values()) if counts else 0
    views = flat.load_views(table=table, n_frames=longest)
    ref = 0
    cfg = TriangulationConfig(ransac=False, refine=False, max_error_px=1e9)
    shifts, errors = {session.names[ref]: 0}, {session.names[ref]: {0: 0.0}}
    t_n = views.points.shape[1]
    for ci in range(1, len(session.names)):
        errs = {}
        for s in range(-max_shift, max_shift + 1):
            a0, a1 = max(0, -s), min(t_n, t_n - s)  # reference frames t, camera frames t + s
            if a1 - a0 < 2:
                continue
            pr = views.points[ref, a0:a1].reshape(-1, 2)
            pc = views.points[ci, a0 + s:a1 + s].reshape(-1, 2)
            both = np.isfinite(pr).all(1) & np.isfinite(pc).all(1)
            if both.sum() < 5:
                continue
            sub = group.subset([session.names[ref], session.names[ci]])
            res = triangulate_points(sub, np.stack([pr[both], pc[both]]), config=cfg)
            errs[s] = float(np.nanmedian(res.error_px))
        if not errs:
            raise CalibrationError(f"Camera {session.names[ci]!r} shares no labelled nodes with "
                                   f"{session.names[ref]!r} at any shift within +-{max_shift} frames.",
                                   hint="Label a few frames in both views, or widen max_shift.")
        shifts[session.names[ci]] = min(errs, key=errs.get)
        errors[session.names[ci]] = errs
    low = min(shifts.values())
    return {c: int(v - low) for c, v in shifts.items()}, errors

