"""Reprojection outliers of a triangulated session, for the proofreading and labelling queues.

A 2D label that lies far from where the other cameras put the node (its reprojection error in
:class:`~.poses3d.Poses3D`, the ``view_error_px`` of every available view, used or rejected)
is probably on the wrong spot or the wrong node. This module turns those errors into

* :func:`reprojection_suspects`: one row per such 2D point (camera, frame, individual, node,
  error, whether the triangulation left it out), worst first;
* :func:`reprojection_errors_for`: an (N, K) array aligned with the rows of one camera's
  :class:`~napari_posetrack.core.posetable.PoseTable`, which
  :func:`~napari_posetrack.core.tracking.suspects.suspect_frames` takes as its
  ``reprojection`` signal;
* :func:`suspect_queues`: per camera, the ranked suspect queue of its 2D poses with that signal;
* :func:`reprojection_outlier_frames`: per camera, ``(video_id, frame_idx)`` of the frames with
  such a point, worst first, in the layout of :func:`~napari_posetrack.core.outliers.find_outlier_frames`
  (frames worth labelling again).

Frame numbers here are each camera's own (the session frame plus the camera's offset).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import SessionError
from .poses3d import Poses3D

__all__ = ["reprojection_suspects", "reprojection_errors_for", "suspect_queues", "reprojection_outlier_frames",
           "write_suspects_csv", "camera_of_labels", "reprojection_errors_in_own_order"]


def _offsets(poses: Poses3D) -> dict:
    return {c: int(poses.offsets.get(c, 0)) for c in poses.cameras}


def reprojection_suspects(poses: Poses3D, max_error_px: float = 20.0) -> list[dict]:
    """2D points farther than ``max_error_px`` from the 3D point, worst first.

    Each row: ``camera``, ``frame`` (the camera's own frame number), ``individual``, ``node``,
    ``error_px``, ``rejected`` (True when the triangulation left the point out).
    """
    if not max_error_px > 0:
        raise SessionError(f"The reprojection threshold must be positive (got {max_error_px}).",
                           hint="Pass a threshold in pixels, e.g. 20.")
    off = _offsets(poses)
    err = poses.view_error_px
    with np.errstate(invalid="ignore"):
        hit = poses.available & np.isfinite(err) & (err > max_error_px)
    rows = []
    for t, i, k, c in zip(*np.nonzero(hit)):
        cam = poses.cameras[c]
        rows.append({"camera": cam, "frame": int(poses.frames[t]) + off[cam], "individual": poses.individuals[i],
                     "node": poses.node_names[k], "error_px": float(err[t, i, k, c]),
                     "rejected": bool(poses.rejected[t, i, k, c])})
    rows.sort(key=lambda r: -r["error_px"])
    return rows


def reprojection_errors_for(poses: Poses3D, camera: str, table, track_names=()) -> np.ndarray:
    """(N, K) reprojection error of each row and node of ``camera``'s ``table`` (NaN where unknown).

    Rows are matched to the session by frame (minus the camera's offset) and individual (by
    track name; a single-animal session takes every row); nodes by position, so ``table`` must
    use the node order of ``poses`` (that of the first camera).
    """
    if camera not in poses.cameras:
        raise SessionError(f"The 3D poses have no camera {camera!r}; they have {poses.cameras}.",
                           hint="Use one of those camera names.")
    k_n = len(poses.node_names)
    if table.n_nodes != k_n:
        raise SessionError(f"Camera {camera!r}: its table has {table.n_nodes} nodes, the 3D poses {k_n} "
                           f"({poses.node_names}).", hint="Pass the table in the session's node order.")
    c = poses.cameras.index(camera)
    out = np.full((len(table), k_n), np.nan)
    t_of = {int(f): j for j, f in enumerate(poses.frames)}
    off = _offsets(poses)[camera]
    single = len(poses.individuals) == 1
    for r in range(len(table)):
        t = t_of.get(int(table.frame_idx[r]) - off)
        if t is None:
            continue
        if single:
            i = 0
        else:
            tid = int(table.track_id[r])
            name = track_names[tid] if 0 <= tid < len(track_names) else None
            if name not in poses.individuals:
                continue
            i = poses.individuals.index(name)
        out[r] = np.where(poses.available[t, i, :, c], poses.view_error_px[t, i, :, c], np.nan)
    return out


def camera_of_labels(session, *paths) -> str | None:
    """The camera of ``session`` whose labels file, or the project store of its edits, is one of ``paths``."""
    from .label_edits import edits_store_path

    want = {Path(p).resolve() for p in paths if p is not None}
    for view in session.cameras:
        if view.labels is None:
            continue
        if {Path(view.labels).resolve(), edits_store_path(view.labels).resolve()} & want:
            return view.name
    return None


def reprojection_errors_in_own_order(poses: Poses3D, camera: str, table, track_names=(), node_names=()) -> np.ndarray:
    """:func:`reprojection_errors_for` of a table whose nodes are ``node_names`` (any order, by name).

    Columns follow ``node_names``; a node the 3D poses do not have is NaN.
    """
    names = list(node_names)
    known = [n for n in poses.node_names if n in names]
    if not known:
        return np.full((len(table), len(names)), np.nan)
    order = list(poses.node_names)
    in_poses = table.remap_nodes([order.index(n) if n in order else -1 for n in names],
                                 len(order)) if names != order else table
    err = reprojection_errors_for(poses, camera, in_poses, track_names)
    out = np.full((len(table), len(names)), np.nan)
    for k, n in enumerate(poses.node_names):
        if n in names:
            out[:, names.index(n)] = err[:, k]
    return out


def suspect_queues(session, poses: Poses3D, *, max_error_px: float = 20.0, table: str = "auto",
                   weights: dict | None = None) -> dict:
    """camera -> :class:`~napari_posetrack.core.tracking.suspects.SuspectQueue` of its 2D poses.

    Each camera's labels (as triangulated: ``table`` picks user labels and/or predictions) are
    ranked by the usual suspect signals plus ``reprojection``. ``weights`` overrides the signal
    weights (e.g. ``{"reprojection": 1}`` alone by setting the others to 0).
    """
    from ..io import load_dataset
    from ..tracking.suspects import suspect_frames
    from .label_edits import labels_source
    from .session import _pick

    out = {}
    for cam in poses.cameras:
        view = session.camera(cam)
        ds = load_dataset(labels_source(view), check_videos="ignore")
        t = _pick(ds, table)
        names = list(ds.skeleton.node_names)
        if names != list(poses.node_names):  # node j of this camera is node order.index(name) of the poses
            order = list(poses.node_names)
            t = t.remap_nodes([order.index(n) for n in names], len(order))
        err = reprojection_errors_for(poses, cam, t, ds.track_names)
        out[cam] = suspect_frames(t, weights=weights, reprojection_px=err, max_reprojection_px=max_error_px,
                                  node_names=list(poses.node_names)) if len(t) else None
    return out


def reprojection_outlier_frames(poses: Poses3D, max_error_px: float = 20.0, n: int | None = None) -> dict:
    """camera -> (M, 2) int64 ``(video_id=0, frame_idx)`` of frames holding a reprojection outlier, worst first."""
    out = {}
    rows = reprojection_suspects(poses, max_error_px)
    for cam in poses.cameras:
        seen, frames = set(), []
        for r in rows:  # already worst first
            if r["camera"] == cam and r["frame"] not in seen:
                seen.add(r["frame"])
                frames.append((0, r["frame"]))
        arr = np.asarray(frames, np.int64).reshape(-1, 2)
        out[cam] = arr[:n] if n is not None else arr
    return out


def write_suspects_csv(rows: list[dict], path):
    """Write :func:`reprojection_suspects` rows as CSV (atomically); returns the path."""
    from pathlib import Path

    path = Path(path)
    lines = ["camera,frame,individual,node,error_px,rejected"]
    lines += [f"{r['camera']},{r['frame']},{r['individual']},{r['node']},{r['error_px']:.2f},{int(r['rejected'])}"
              for r in rows]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path
