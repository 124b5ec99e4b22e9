"""Multi-view consistency: where a point must be in the other views, and 3D clean-up.

* :func:`predict_in_views`: from a node labelled in two or more views, its position in every
  camera (the reprojected 3D point) - a labelling aid and a check of the labels.
* :func:`epipolar_curve`: the pixels in one camera where a point seen in another can lie
  (the other camera's ray, projected with distortion, so a curve rather than a line).
* :func:`smooth_poses`: a NaN-aware running median of the 3D points over time.
* :func:`constrain_bones`: drop the 3D point of a bone whose length is far from that bone's
  median length (the end with the larger reprojection error goes), with a status and message.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .camera import CameraGroup
from .errors import TriangulationError
from .poses3d import Poses3D
from .triangulate import BONE_LENGTH, OK, TriangulationConfig, triangulate_points

__all__ = ["predict_in_views", "epipolar_curve", "smooth_poses", "constrain_bones", "BONE_LENGTH"]


def predict_in_views(group: CameraGroup, observed: dict, *, max_error_px: float = 1e9) -> dict:
    """Positions in every camera of a point observed at ``{camera: (x, y)}`` in 2+ views.

    Returns ``{camera: (x, y)}`` for all cameras of ``group`` (NaN when the point is behind a
    camera), plus ``"_point3d"`` and ``"_error_px"`` (mean reprojection error of the observed views).
    """
    obs = {c: xy for c, xy in observed.items() if xy is not None and np.isfinite(np.asarray(xy, float)).all()}
    if len(obs) < 2:
        raise TriangulationError(f"A point needs 2 labelled views to be placed in the others; got {sorted(obs)}.",
                                 hint="Label the node in one more view.")
    sub = group.subset(list(obs))
    pts = np.array([np.asarray(obs[c], float) for c in obs])[:, None, :]
    res = triangulate_points(sub, pts, config=TriangulationConfig(ransac=False, max_error_px=max_error_px))
    x = res.points3d[0]
    out = {c.name: tuple(float(v) for v in c.project(x[None])[0]) for c in group.cameras}
    out["_point3d"] = tuple(float(v) for v in x)
    out["_error_px"] = float(res.error_px[0])
    return out


def epipolar_curve(group: CameraGroup, source: str, xy, target: str, *, near: float = 10.0, far: float = 5000.0,
                   n: int = 64) -> np.ndarray:
    """(M, 2) pixels in ``target`` of the ray through ``xy`` in ``source`` (depths near..far, world units).

    Only the part inside ``target``'s image is returned (possibly empty).
    """
    src, dst = group[source], group[target]
    ray = np.r_[src.undistort(np.asarray(xy, float)[None])[0], 1.0]
    depths = np.geomspace(near, far, n)
    cam_pts = depths[:, None] * ray[None]
    world = (cam_pts - src.tvec) @ src.rotation  # R^T (x - t)
    uv = dst.project(world)
    w, h = dst.size
    keep = np.isfinite(uv).all(1) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
    return uv[keep]


def smooth_poses(poses: Poses3D, window: int = 5) -> Poses3D:
    """Running median of the 3D points over ``window`` frames (NaN-aware; gaps are not filled)."""
    if window < 2:
        return poses
    half = window // 2
    pts = poses.points
    pad = np.pad(pts, ((half, half), (0, 0), (0, 0), (0, 0)), constant_values=np.nan)
    wins = np.lib.stride_tricks.sliding_window_view(pad, window, axis=0)[: len(pts)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(wins, axis=-1)
    med[~np.isfinite(pts).all(-1)] = np.nan  # keep missing points missing
    return dataclasses.replace(poses, points=med)


def constrain_bones(poses: Poses3D, tolerance: float = 0.3) -> tuple[Poses3D, list[str]]:
    """Drop 3D points that make a bone longer or shorter than ``(1 +- tolerance)`` x its median.

    Returns the new poses (dropped points: NaN, status :data:`BONE_LENGTH`) and one message
    per dropped point.
    """
    if not poses.edges:
        return poses, []
    pts, status, err = poses.points.copy(), poses.status.copy(), poses.error_px
    msgs = []
    e = np.asarray(poses.edges, int)
    lengths = np.linalg.norm(pts[:, :, e[:, 0]] - pts[:, :, e[:, 1]], axis=-1)  # T, I, E
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(lengths, axis=0)  # I, E
    dev = np.abs(lengths / ref - 1)
    for t, i, j in zip(*np.nonzero(dev > tolerance)):
        a, b = e[j]
        if status[t, i, a] != OK or status[t, i, b] != OK:
            continue
        drop = a if err[t, i, a] >= err[t, i, b] else b
        pts[t, i, drop] = np.nan
        status[t, i, drop] = BONE_LENGTH
        msgs.append(f"frame {int(poses.frames[t])}, {poses.individuals[i]}, node {poses.node_names[drop]}: bone "
                    f"{poses.node_names[a]}-{poses.node_names[b]} is {lengths[t, i, j]:.1f} vs a median of "
                    f"{ref[i, j]:.1f}; 3D point dropped")
    n_views = np.where(status == OK, poses.n_views, 0)
    return dataclasses.replace(poses, points=pts, status=status, n_views=n_views,
                               error_px=np.where(status == OK, poses.error_px, np.nan)), msgs
