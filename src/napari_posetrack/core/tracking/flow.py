"""Optical-flow shift tracker: pyramidal Lucas-Kanade on the tracked points.

Each track carries an estimate of its pose. When a new frame arrives, every estimate is
moved from the previous frame to the new one with sparse pyramidal Lucas-Kanade optical
flow (our own vectorised implementation with numpy bilinear sampling: it only samples
windows around the tracked points, on a crop around them, never the whole frame), then
detections are matched to the shifted poses.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from .engine import OnlineTracker

__all__ = ["FlowTracker", "pyramidal_lk", "build_pyramid", "to_gray"]


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 255] from an (H, W), (H, W, 1) or (H, W, 3) image."""
    img = np.asarray(image)
    if img.ndim == 3:
        img = img[..., 0] if img.shape[-1] == 1 else img[..., :3].mean(-1)
    return img.astype(np.float32, copy=False)


def _bilinear(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``img`` (H, W) at float coordinates (edges clamped), same shape as ``ys``."""
    h, w = img.shape
    ys = np.clip(ys, 0, h - 1.001)
    xs = np.clip(xs, 0, w - 1.001)
    y0 = ys.astype(np.intp)
    x0 = xs.astype(np.intp)
    fy = (ys - y0).astype(np.float32)
    fx = (xs - x0).astype(np.float32)
    flat = img.ravel()
    i = y0 * w + x0
    a, b, c, d = flat[i], flat[i + 1], flat[i + w], flat[i + w + 1]
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy


def build_pyramid(image: np.ndarray, levels: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``[(I, Ix, Iy), ...]`` per level (finest first) of a grey image scaled to [0, 1]."""
    img = np.asarray(image, np.float32) * np.float32(1.0 / 255.0)
    out = []
    for lvl in range(levels):
        if lvl:
            img = np.ascontiguousarray(ndimage.uniform_filter(img, 2, mode="nearest")[::2, ::2])
        iy, ix = np.gradient(img)
        out.append((img, ix, iy))
    return out


def pyramidal_lk(prev, curr, pts: np.ndarray, *, window: int = 21, levels: int = 3, iters: int = 10,
                 min_eig: float = 1e-6, eps: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Track points from ``prev`` to ``curr`` with pyramidal Lucas-Kanade.

    Parameters
    ----------
    prev, curr : ndarray (H, W) or list
        Grey frames in [0, 255], or their pyramids from :func:`build_pyramid` (reuse the
        current frame's pyramid as the next call's ``prev``).
    pts : ndarray (P, 2)
        Points (x, y) in ``prev``; NaN rows are passed through.
    window : int
        Side of the square integration window at every level.
    levels : int
        Pyramid levels (each halves the image).
    iters : int
        Most Gauss-Newton iterations per level (a point stops when its update is below ``eps``
        pixels).
    min_eig : float
        Points whose structure tensor's smallest eigenvalue (per pixel, image in [0, 1]) is
        below this are reported as failed.

    Returns
    -------
    new_pts : ndarray (P, 2)
    ok : ndarray (P,) bool
    """
    pts = np.asarray(pts, np.float64)
    good = np.isfinite(pts).all(1)
    new = pts.copy()
    ok = np.zeros(len(pts), bool)
    if not good.any():
        return new, ok
    lo = np.zeros(2, int)
    if isinstance(prev, np.ndarray):
        prev, curr, lo = _cropped_pyramids(prev, curr, pts[good], window, levels)
    levels = min(levels, len(prev), len(curr))
    p0 = (pts[good] - lo).astype(np.float32)
    half = (window - 1) / 2.0
    oy, ox = np.mgrid[-half:half + 1, -half:half + 1].astype(np.float32)
    ox, oy = ox.ravel(), oy.ravel()  # (W2,)
    g = np.zeros_like(p0)  # guess at the current level, (P, 2)
    eig_ok = np.ones(len(p0), bool)
    for lvl in range(levels - 1, -1, -1):
        v, lam_min = _lk_level(prev[lvl], curr[lvl][0], p0 / (2 ** lvl), g, ox, oy, iters=iters, eps=eps)
        if lvl == 0:
            eig_ok = lam_min > min_eig
        g = g + v
        if lvl > 0:
            g = 2.0 * g
    shift = g.astype(np.float64)
    fin = np.isfinite(shift).all(1) & eig_ok
    new[good] = np.where(fin[:, None], p0 + np.where(np.isfinite(shift), shift, 0), p0) + lo
    ok[np.flatnonzero(good)] = fin
    return new, ok


def _cropped_pyramids(prev: np.ndarray, curr, pts: np.ndarray, window: int, levels: int):
    """Pyramids of the region around ``pts`` (finite, (P, 2) x, y) only: ``(prev, curr, lo)``.

    The crop leaves room for the window at the coarsest level and for the motion; ``lo`` is its
    (x, y) origin in the frame.
    """
    margin = int((window + 16) * 2 ** (levels - 1))
    lo = np.maximum(np.floor(pts.min(0)).astype(int) - margin, 0)
    hi = np.minimum(np.ceil(pts.max(0)).astype(int) + margin + 1, [prev.shape[1], prev.shape[0]])
    crop = (slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    return build_pyramid(prev[crop], levels), build_pyramid(np.asarray(curr)[crop], levels), lo


def _lk_level(prev_level, J: np.ndarray, p: np.ndarray, g: np.ndarray, ox: np.ndarray, oy: np.ndarray, *,
              iters: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Newton iterations at one pyramid level: ``(update v, smallest eigenvalue per point)``.

    ``prev_level`` is ``(I, Ix, Iy)`` of the previous frame, ``J`` the current frame at this level,
    ``p`` the points at this level's scale, ``g`` the guess carried from the coarser level and
    ``ox``, ``oy`` the window's offsets.
    """
    I, Ix, Iy = prev_level
    xs = p[:, 0:1] + ox[None]
    ys = p[:, 1:2] + oy[None]
    Iw, Ixw, Iyw = _bilinear(I, ys, xs), _bilinear(Ix, ys, xs), _bilinear(Iy, ys, xs)
    gxx, gxy, gyy = (Ixw * Ixw).sum(1), (Ixw * Iyw).sum(1), (Iyw * Iyw).sum(1)
    det = gxx * gyy - gxy ** 2
    tr = gxx + gyy
    lam_min = (tr - np.sqrt(np.maximum(tr ** 2 - 4 * det, 0))) / 2 / len(ox)
    det = np.where(np.abs(det) < 1e-12, np.inf, det)
    v = np.zeros_like(g)
    act = np.arange(len(p))
    for _ in range(iters):
        if not len(act):
            break
        gv = g[act] + v[act]
        Jw = _bilinear(J, ys[act] + gv[:, 1:2], xs[act] + gv[:, 0:1])
        dI = Iw[act] - Jw
        bx, by = (dI * Ixw[act]).sum(1), (dI * Iyw[act]).sum(1)
        dvx = (gyy[act] * bx - gxy[act] * by) / det[act]
        dvy = (gxx[act] * by - gxy[act] * bx) / det[act]
        v[act, 0] += dvx
        v[act, 1] += dvy
        moving = (np.abs(dvx) >= eps) | (np.abs(dvy) >= eps)
        act = act[moving & np.isfinite(dvx) & np.isfinite(dvy)]
    return v, lam_min


class FlowTracker(OnlineTracker):
    """Candidates are each track's pose shifted by optical flow into the current frame."""

    name = "flow"
    needs_images = True

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.estimates: dict[int, tuple[int, np.ndarray]] = {}  # track -> (last observed frame, pose)
        self.prev: list | None = None  # pyramid of the previous frame

    def _prep(self, image) -> np.ndarray | None:
        if image is None:
            return None
        g = to_gray(image)
        s = self.config.flow_scale
        if s != 1.0:
            g = ndimage.zoom(g, s, order=1)
        return build_pyramid(g, self.config.flow_levels)

    def candidates(self, frame_idx, image):
        cur = self._prep(image)
        ids = [t for t, (f, _) in self.estimates.items() if frame_idx - f <= self.config.max_gap]
        if not ids:
            self._cur = cur
            return np.zeros(0, np.int64), np.zeros((0, 0, 2), np.float32)
        poses = np.stack([self.estimates[t][1] for t in ids]).astype(np.float64)
        if cur is not None and self.prev is not None and self.prev[0][0].shape == cur[0][0].shape:
            k = poses.shape[1]
            s = self.config.flow_scale
            moved, ok = pyramidal_lk(self.prev, cur, poses.reshape(-1, 2) * s, window=self.config.flow_window,
                                     levels=self.config.flow_levels, iters=self.config.flow_iters)
            moved = np.where(ok[:, None], moved / s, poses.reshape(-1, 2)).reshape(len(ids), k, 2)
            for t, m in zip(ids, moved):
                self.estimates[t] = (self.estimates[t][0], m)
            poses = moved
        self._cur = cur
        return np.asarray(ids, np.int64), poses.astype(np.float32)

    def observe(self, frame_idx, image, points, assigned):
        for r in np.flatnonzero(assigned >= 0):
            t = int(assigned[r])
            z = points[r].astype(np.float64)
            old = self.estimates.get(t)
            if old is not None:
                z = np.where(np.isfinite(z), z, old[1])
            self.estimates[t] = (frame_idx, z)
        if getattr(self, "_cur", None) is not None:
            self.prev = self._cur
