"""Triangulation of 2D points seen by several calibrated cameras.

:func:`triangulate_points` takes ``points2d`` (C, N, 2) in pixels and ``scores`` (C, N), one row
per camera of a :class:`~.camera.CameraGroup`, and returns a :class:`PointsResult`:

1. a 2D point is *available* in a view when its coordinates are finite and its score is above
   ``min_score`` (a NaN score, as on user labels, counts as 1);
2. weighted DLT on undistorted, normalized coordinates: each view's two rows are multiplied by
   its score, so a confident view pulls harder;
3. with ``ransac`` and 3 or more views: every pair of views proposes a point, the pair whose
   point agrees (reprojection error below ``max_error_px``) with most views wins, and the views
   that disagree are dropped (``rejected``); then the DLT is redone on the inliers;
4. a few damped Gauss-Newton steps minimise the weighted pixel reprojection error;
5. per point: reprojection error (mean over the views used, px), number of views used, and a
   status (:data:`OK`, :data:`TOO_FEW_VIEWS`, :data:`INCONSISTENT`) with which the caller writes a
   message for every point that has no 3D position. Nothing is left NaN without a status.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .camera import CameraGroup
from .errors import TriangulationError

__all__ = ["TriangulationConfig", "PointsResult", "triangulate_points", "dlt", "OK", "TOO_FEW_VIEWS",
           "INCONSISTENT", "BONE_LENGTH", "STATUS_TEXT"]

OK, TOO_FEW_VIEWS, INCONSISTENT, BONE_LENGTH = 0, 1, 2, 3
STATUS_TEXT = {OK: "ok", TOO_FEW_VIEWS: "too few views", INCONSISTENT: "views disagree",
               BONE_LENGTH: "bone length off"}


@dataclass
class TriangulationConfig:
    """Options of :func:`triangulate_points`.

    Parameters
    ----------
    min_views : a 3D point needs at least this many views (>= 2).
    max_error_px : reprojection error above which a view is an outlier (RANSAC) and a point whose
        inliers still exceed it is rejected.
    ransac : search pairs of views for the largest consistent set (3+ views).
    min_score : 2D points with a score at or below this are ignored.
    refine : minimise the pixel reprojection error after the DLT.
    """

    min_views: int = 2
    max_error_px: float = 20.0
    ransac: bool = True
    min_score: float = 0.0
    refine: bool = True

    def __post_init__(self):
        if self.min_views < 2:
            raise TriangulationError(f"min_views must be at least 2 (got {self.min_views}): one view gives a ray, "
                                     "not a point.")
        if not self.max_error_px > 0:
            raise TriangulationError(f"max_error_px must be positive (got {self.max_error_px}).")


@dataclass
class PointsResult:
    """Per point: ``points3d`` (N, 3), ``error_px`` (N,), ``n_views`` (N,), ``status`` (N,),
    ``used`` / ``available`` / ``rejected`` (N, C) view masks, ``view_error_px`` (N, C) the
    reprojection error in every available view (used or not)."""

    points3d: np.ndarray
    error_px: np.ndarray
    n_views: np.ndarray
    status: np.ndarray
    used: np.ndarray
    available: np.ndarray
    rejected: np.ndarray
    view_error_px: np.ndarray


def _weights(points2d, scores, min_score):
    pts = np.asarray(points2d, dtype=np.float64)
    w = np.ones(pts.shape[:2]) if scores is None else np.asarray(scores, dtype=np.float64).copy()
    w = np.where(np.isnan(w), 1.0, w)
    avail = np.isfinite(pts).all(-1) & (w > min_score)
    return pts, np.where(avail, w, 0.0), avail


def dlt(extrinsics: np.ndarray, normalized: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted DLT, batched.

    extrinsics (C, 3, 4) ``[R|t]``; normalized (C, N, 2) undistorted coordinates; weights (C, N),
    0 where a view is not used. Returns (N, 3); NaN where fewer than 2 views have weight.
    """
    c, n = weights.shape
    xy = np.nan_to_num(normalized)
    p = extrinsics[:, None]  # (C, 1, 3, 4)
    row1 = xy[..., 0:1] * p[..., 2, :] - p[..., 0, :]
    row2 = xy[..., 1:2] * p[..., 2, :] - p[..., 1, :]
    a = np.stack([row1, row2], 1) * weights[:, None, :, None]  # (C, 2, N, 4)
    a = a.transpose(2, 0, 1, 3).reshape(n, 2 * c, 4)
    # normalise rows so that the weights, not the coordinates, set each view's pull
    norm = np.linalg.norm(a, axis=-1, keepdims=True)
    scale = np.where(norm > 0, 1.0 / np.maximum(norm, 1e-300), 0.0)
    wrow = np.repeat(weights.T, 2, axis=1)[..., None]
    a = a * scale * wrow
    _, _, vt = np.linalg.svd(a)
    x = vt[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = x[:, :3] / x[:, 3:4]
    out[(weights > 0).sum(0) < 2] = np.nan
    return out


def _view_errors(group: CameraGroup, x, pts):
    proj = group.project(x)  # (C, N, 2)
    return np.linalg.norm(proj - pts, axis=-1)  # (C, N), NaN where missing


def _refine(group: CameraGroup, x, pts, w, iterations: int = 8):
    """Damped Gauss-Newton on the weighted pixel error, batched over points."""
    ok = np.isfinite(x).all(1) & ((w > 0).sum(0) >= 2)
    if not ok.any():
        return x
    xs, ps, ws = x[ok].copy(), pts[:, ok], w[:, ok]
    sw = np.sqrt(ws)[..., None]
    target = np.nan_to_num(ps)

    def resid(xx):
        r = (group.project(xx) - target) * sw
        return np.nan_to_num(r, nan=1e6).transpose(1, 0, 2).reshape(len(xx), -1)

    lam = np.full(len(xs), 1e-3)
    r = resid(xs)
    cost = (r ** 2).sum(1)
    for _ in range(iterations):
        eps = 1e-4 * np.maximum(1.0, np.abs(xs))
        jac = np.stack([(resid(xs + np.eye(3)[j] * eps[:, j:j + 1]) - r) / eps[:, j:j + 1] for j in range(3)], -1)
        jtj = jac.transpose(0, 2, 1) @ jac
        jtr = jac.transpose(0, 2, 1) @ r[..., None]
        diag = np.einsum("nii->ni", jtj)
        damp = jtj + lam[:, None, None] * np.eye(3) * (diag[:, :, None] + 1e-9)
        try:
            step = -np.linalg.solve(damp, jtr)[..., 0]
        except np.linalg.LinAlgError:
            break
        cand = xs + step
        rc = resid(cand)
        cc = (rc ** 2).sum(1)
        better = cc < cost
        xs[better], r[better], cost[better] = cand[better], rc[better], cc[better]
        lam = np.where(better, lam / 10, lam * 10)
    out = x.copy()
    out[ok] = xs
    return out


def triangulate_points(group: CameraGroup, points2d, scores=None, config: TriangulationConfig | None = None
                       ) -> PointsResult:
    """Triangulate N points seen by the C cameras of ``group``; see the module docstring."""
    cfg = config or TriangulationConfig()
    pts, w, avail = _weights(points2d, scores, cfg.min_score)
    if pts.ndim != 3 or pts.shape[0] != len(group) or pts.shape[2] != 2:
        raise TriangulationError(f"points2d must be (cameras={len(group)}, N, 2); got {pts.shape}.",
                                 hint="Stack one (N, 2) array per camera, in the calibration's camera order.")
    c, n = w.shape
    ext = np.stack([cam.extrinsic() for cam in group.cameras])
    norm = np.stack([cam.undistort(pts[i]) for i, cam in enumerate(group.cameras)])
    use = w > 0
    n_avail = avail.sum(0)
    rejected = np.zeros((c, n), bool)

    x = dlt(ext, norm, w)
    if cfg.ransac and c >= 3:
        many = n_avail >= 3
        if many.any():
            sub = np.flatnonzero(many)
            best_n = np.zeros(sub.size, int)
            best_cost = np.full(sub.size, np.inf)
            best_in = np.zeros((c, sub.size), bool)
            for a, b in combinations(range(c), 2):
                pair = np.zeros((c, sub.size))
                pair[[a, b]] = w[[a, b]][:, sub]
                if not (pair > 0).any():
                    continue
                xp = dlt(ext, norm[:, sub], pair)
                err = _view_errors(group, xp, pts[:, sub])
                inl = avail[:, sub] & (err < cfg.max_error_px)
                cnt = inl.sum(0)
                cost = np.where(inl, np.minimum(err, cfg.max_error_px), 0).sum(0)
                ok = (pair > 0).sum(0) == 2
                better = ok & ((cnt > best_n) | ((cnt == best_n) & (cost < best_cost)))
                best_n[better], best_cost[better] = cnt[better], cost[better]
                best_in[:, better] = inl[:, better]
            good = best_n >= 2
            upd = sub[good]
            new_use = best_in[:, good]
            rejected[:, upd] = avail[:, upd] & ~new_use
            use[:, upd] = new_use
            # no pair agreed: keep all views, the error check below decides
            w_use = np.where(use, w, 0.0)
            x[upd] = dlt(ext, norm[:, upd], w_use[:, upd])
    w_use = np.where(use, w, 0.0)
    if cfg.refine:
        x = _refine(group, x, pts, w_use)
    verr = _view_errors(group, x, pts)
    verr = np.where(avail, verr, np.nan)
    n_used = use.sum(0)
    with np.errstate(invalid="ignore"):
        err = np.where(n_used > 0, np.nansum(np.where(use, verr, 0), 0) / np.maximum(n_used, 1), np.nan)
    status = np.full(n, OK, np.int8)
    status[n_avail < cfg.min_views] = TOO_FEW_VIEWS
    bad = (status == OK) & ~(err <= cfg.max_error_px)
    status[bad] = INCONSISTENT
    status[(status == OK) & (n_used < cfg.min_views)] = INCONSISTENT
    x[status != OK] = np.nan
    err = np.where(status == OK, err, np.nan)
    return PointsResult(points3d=x.T.T, error_px=err, n_views=np.where(status == OK, n_used, 0).astype(np.int16),
                        status=status, used=(use & (status == OK)).T, available=avail.T, rejected=rejected.T,
                        view_error_px=verr.T)
