"""Tracklet stitching: link short tracks into a fixed number of identities (offline).

An online tracker breaks a track where matching is ambiguous (crossings, missed detections,
spurious detections). Stitching looks at the whole video at once. Tracklets are taken
longest first; each joins the identity it fits best among those it does not overlap in
time. The fit is a linking cost over the gaps on both sides of the tracklet:

* motion: distance from the neighbouring tracklet's end (extrapolated with its velocity)
  to this tracklet's start, relative to how far an animal can move in that gap;
* pose: ``1 - OKS`` between the two poses at the gap after removing the translation, so a
  tracklet facing the other way costs more.

While fewer than ``n_identities`` identities exist, a tracklet that fits no identity (or
overlaps all) starts a new one; after that it is left untracked (``-1``): such tracklets are
spurious or duplicate detections. A few frames of overlap are tolerated (the overlapping
instances of the newcomer are untracked), because online tracklets often end with a frame or
two taken from a spurious detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..posetable import PoseTable
from .costs import centroids, oks

__all__ = ["stitch_tracklets", "tracklet_summary"]


@dataclass
class _Tracklet:
    tid: int
    rows: np.ndarray
    first: int
    last: int
    first_pose: np.ndarray  # (K, 2)
    last_pose: np.ndarray
    first_c: np.ndarray  # (2,)
    last_c: np.ndarray
    v_first: np.ndarray  # (2,) px / frame at the start
    v_last: np.ndarray

    @property
    def length(self) -> int:
        return len(self.rows)


def _velocity(frames, cents) -> np.ndarray:
    ok = np.isfinite(cents).all(1)
    f, c = frames[ok], cents[ok]
    if len(f) < 2 or f[-1] == f[0]:
        return np.zeros(2)
    return (c[-1] - c[0]) / (f[-1] - f[0])


def tracklet_summary(table: PoseTable, *, n_end: int = 5) -> list[_Tracklet]:
    """One record per track id of ``table`` (one video): extent, end poses and end velocities."""
    out = []
    tid = table.track_id
    cents = table.centroids()
    for t in np.unique(tid[tid >= 0]):
        rows = np.flatnonzero(tid == t)
        rows = rows[np.argsort(table.frame_idx[rows], kind="stable")]
        fr = table.frame_idx[rows]
        c = cents[rows]
        out.append(_Tracklet(int(t), rows, int(fr[0]), int(fr[-1]), table.points[rows[0]], table.points[rows[-1]],
                             c[0], c[-1], _velocity(fr[:n_end], c[:n_end]), _velocity(fr[-n_end:], c[-n_end:])))
    return out


def _shape_cost(a: np.ndarray, b: np.ndarray, kappa: float) -> float:
    ca, cb = centroids(a[None])[0], centroids(b[None])[0]
    if not (np.isfinite(ca).all() and np.isfinite(cb).all()):
        return 0.5
    return float(1.0 - oks((a - ca)[None], (b - cb)[None], kappa=kappa * 2)[0, 0])


def _link_cost(before: _Tracklet, after: _Tracklet, speed: float, size: float, kappa: float) -> float:
    """Cost of ``after`` continuing ``before`` (``before.last < after.first``)."""
    gap = max(after.first - before.last, 1)  # tracklets may overlap by a frame or two
    pred = before.last_c + before.v_last * min(gap, 5)
    d = np.linalg.norm(after.first_c - pred)
    if not np.isfinite(d):
        return np.inf
    allowed = speed * gap + 0.25 * size + 1.0
    return float(d / allowed + 0.5 * _shape_cost(before.last_pose, after.first_pose, kappa))


def stitch_tracklets(table: PoseTable, n_identities: int | None = None, *, kappa: float = 0.1,
                     max_link_cost: float = 2.0, max_overlap: int = 2, overlap_fraction: float = 0.1) -> PoseTable:
    """Relabel the tracks of ``table`` so that they form at most ``n_identities`` identities.

    Parameters
    ----------
    table : PoseTable
        Tracked instances (tracklets), any number of videos (each stitched on its own).
    n_identities : int or None
        Number of animals. ``None`` links tracklets without a cap (only gap-crossing joins
        whose cost is below ``max_link_cost``).
    kappa : float
        OKS spread for the pose term.
    max_link_cost : float
        A join costing more than this starts a new identity (while under the cap).
    max_overlap, overlap_fraction : int, float
        A tracklet may still join an identity it overlaps in at most
        ``max(max_overlap, overlap_fraction * length)`` frames (typically a spurious
        detection that grabbed the track for a frame or two); its instances in those frames
        are left untracked.

    Returns
    -------
    PoseTable
        Same rows; ``track_id`` is the identity (0..n-1 per video), ``-1`` for tracklets that
        fit no identity.
    """
    new_tid = np.full(len(table), -1, np.int32)
    for vid in np.unique(table.video_id):
        idx = np.flatnonzero(table.video_id == vid)
        sub = table.take(idx)
        tracklets = tracklet_summary(sub)
        if not tracklets:
            continue
        speed, size = _motion_scale(sub, tracklets)
        frames_of = {tr.tid: sub.frame_idx[tr.rows] for tr in tracklets}
        identities: list[list[_Tracklet]] = []
        drop: dict[int, np.ndarray] = {}  # tracklet -> its frames given up to an earlier member
        for tr in sorted(tracklets, key=lambda t: (-t.length, t.first)):
            allowed = max(max_overlap, int(overlap_fraction * tr.length))
            best, best_cost, best_clash = _best_identity(tr, identities, frames_of, allowed, speed, size, kappa)
            under_cap = n_identities is None or len(identities) < n_identities
            if best is not None and (best_cost <= max_link_cost or not under_cap):
                identities[best].append(tr)
                if len(best_clash):
                    drop[tr.tid] = best_clash
            elif under_cap:
                identities.append([tr])
            # else: overlaps every identity (or fits none at the cap): left untracked
        for i, members in enumerate(identities):
            for m in members:
                rows = m.rows
                if m.tid in drop:
                    rows = rows[~np.isin(sub.frame_idx[rows], drop[m.tid])]
                new_tid[idx[rows]] = i
    return table.with_columns(track_id=new_tid)


def _motion_scale(sub: PoseTable, tracklets: list[_Tracklet]) -> tuple[float, float]:
    """``(speed, size)`` of one video: typical motion (95th percentile of the per-frame centroid steps
    inside tracklets, px / frame) and the median animal size (px)."""
    steps = []
    cents = sub.centroids()
    for tr in tracklets:
        fr = sub.frame_idx[tr.rows]
        c = cents[tr.rows]
        if len(fr) > 1:
            steps.append(np.linalg.norm(np.diff(c, axis=0), axis=1) / np.maximum(np.diff(fr), 1))
    steps = np.concatenate(steps) if steps else np.zeros(1)
    steps = steps[np.isfinite(steps)]
    speed = float(np.percentile(steps, 95)) if len(steps) else 10.0
    bb = sub.bboxes()
    sizes = np.sqrt(np.abs((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])))
    size = float(np.nanmedian(sizes)) if np.isfinite(sizes).any() else 50.0
    return speed, size


def _best_identity(tr: _Tracklet, identities: list[list[_Tracklet]], frames_of: dict, allowed: int, speed: float,
                   size: float, kappa: float):
    """The identity ``tr`` joins most cheaply: ``(index or None, cost, frames it clashes on)``.

    An identity is out when ``tr`` overlaps its members in more than ``allowed`` frames, lies inside
    one of them, or overlaps it everywhere.
    """
    best, best_cost, best_clash = None, np.inf, None
    for i, members in enumerate(identities):
        over = [m for m in members if m.first <= tr.last and tr.first <= m.last]
        clash = np.zeros(0, np.int64)
        if over:
            clash = np.intersect1d(np.concatenate([frames_of[m.tid] for m in over]), frames_of[tr.tid])
            inside = any(m.first <= tr.first and tr.last <= m.last for m in over)
            if len(clash) > allowed or inside or len(clash) >= tr.length:
                continue
        prev = max((m for m in members if m.first < tr.first), key=lambda m: m.last, default=None)
        nxt = min((m for m in members if m.last > tr.last), key=lambda m: m.first, default=None)
        costs = []
        if prev is not None:
            costs.append(_link_cost(prev, tr, speed, size, kappa))
        if nxt is not None:
            costs.append(_link_cost(tr, nxt, speed, size, kappa))
        c = float(np.mean(costs)) if costs else np.inf
        if c < best_cost:
            best, best_cost, best_clash = i, c, clash
    return best, best_cost, best_clash
