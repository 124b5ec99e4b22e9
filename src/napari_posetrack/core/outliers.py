"""Outlier frames in predictions: frames worth a human look (numpy/scipy only).

Three criteria, each computed per instance and reduced to the worst instance of each frame:

``jump``
    The largest displacement (pixels) of any node between an instance and the same animal in
    the previous frame (frame ``f - 1`` of the same video). Animals are followed by
    ``track_id`` when the table is tracked; untracked instances are paired with the nearest
    instance of the previous frame.
``min_score``
    The lowest node score (or the instance score, whichever is lower) of the instance.
``smooth_dev``
    The largest distance (pixels) of any node from a running median (window 5 frames) of its
    own trajectory, per track (or per video for untracked single-animal tables).

A frame is flagged when any criterion passes its threshold. Its *badness* is the sum, over
the criteria it fails, of how far past the threshold it is (value / threshold for the pixel
criteria, threshold / score for the score), and frames are ranked worst first.

When no threshold is given at all, ``min_score=0.5`` is used, and ``jump`` / ``smooth_dev``
get robust automatic thresholds: the median plus 6 scaled MADs of the values measured on the
table (at least 1 pixel).
"""

from __future__ import annotations

import numpy as np

from .posetable import UNLABELED, PoseTable

__all__ = ["find_outlier_frames", "outlier_measures"]

_WINDOW = 5


def _nanmax(a: np.ndarray, axis: int) -> np.ndarray:
    a = np.where(np.isfinite(a), a, -np.inf)
    out = a.max(axis=axis) if a.shape[axis] else np.full(a.shape[:axis] + a.shape[axis + 1:], -np.inf)
    return np.where(np.isfinite(out), out, np.nan)


def _node_points(table: PoseTable) -> np.ndarray:
    """(N, K, 2) with NaN where a node is not labeled."""
    return np.where((table.state != UNLABELED)[..., None], table.points, np.nan).astype(np.float64)


def _jumps(table: PoseTable, pts: np.ndarray) -> np.ndarray:
    """(N,) largest node displacement from the same animal in the previous frame (NaN if none)."""
    n = len(table)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    key = {}
    for i, (v, f) in enumerate(zip(table.video_id.tolist(), table.frame_idx.tolist())):
        key.setdefault((v, f), []).append(i)
    for (v, f), rows in key.items():
        prev = key.get((v, f - 1))
        if not prev:
            continue
        for i in rows:
            tid = table.track_id[i]
            if tid >= 0:
                cands = [j for j in prev if table.track_id[j] == tid]
            else:
                cands = [j for j in prev if table.track_id[j] < 0]
            best, best_mean = np.nan, np.inf
            for j in cands:
                d = np.linalg.norm(pts[i] - pts[j], axis=-1)  # (K,)
                if not np.isfinite(d).any():
                    continue
                mean = float(np.nanmean(d))
                if tid >= 0 or mean < best_mean:  # tracked: the one row; untracked: the nearest
                    best, best_mean = float(np.nanmax(d)), mean
            out[i] = best
    return out


def _running_median(x: np.ndarray, window: int) -> np.ndarray:
    """Median over a centred window of the finite values of ``x`` (T, ...) along axis 0."""
    t = len(x)
    half = window // 2
    padded = np.concatenate([np.full((half,) + x.shape[1:], np.nan), x, np.full((half,) + x.shape[1:], np.nan)])
    stack = np.stack([padded[i:i + t] for i in range(window)])  # (W, T, ...)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(stack, axis=0)


def _smooth_devs(table: PoseTable, pts: np.ndarray) -> np.ndarray:
    """(N,) largest node deviation from the running median of its trajectory (NaN if unknown)."""
    n = len(table)
    out = np.full(n, np.nan)
    if n == 0:
        return out
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (v, t) in enumerate(zip(table.video_id.tolist(), table.track_id.tolist())):
        groups.setdefault((v, t), []).append(i)
    for (_v, t), rows in groups.items():
        rows = np.asarray(rows)
        frames = table.frame_idx[rows]
        if t < 0 and len(np.unique(frames)) != len(frames):
            continue  # untracked with several animals per frame: no trajectory to follow
        order = np.argsort(frames, kind="stable")
        rows, frames = rows[order], frames[order]
        span = int(frames[-1] - frames[0] + 1)
        if span > 50 * len(rows) + 1000:  # very sparse: work on the rows in order
            traj = pts[rows]
            pos = np.arange(len(rows))
        else:
            traj = np.full((span,) + pts.shape[1:], np.nan)
            pos = frames - frames[0]
            traj[pos] = pts[rows]
        smooth = _running_median(traj, _WINDOW)
        dev = np.linalg.norm(traj - smooth, axis=-1)  # (T, K)
        out[rows] = _nanmax(dev, axis=1)[pos]
    return out


def outlier_measures(table: PoseTable) -> dict[str, np.ndarray]:
    """Per-instance measures used by :func:`find_outlier_frames`.

    Returns
    -------
    dict with ``"jump"`` (N,), ``"score"`` (N,), ``"smooth_dev"`` (N,) float64 (NaN = unknown).
    """
    pts = _node_points(table)
    lab = table.state != UNLABELED
    sc = np.where(lab, table.score, np.nan).astype(np.float64)
    node_min = -_nanmax(-sc, axis=1) if table.n_nodes else np.full(len(table), np.nan)
    inst = table.instance_score.astype(np.float64)
    score = np.fmin(node_min, inst)
    return {"jump": _jumps(table, pts), "score": score, "smooth_dev": _smooth_devs(table, pts)}


def _auto_threshold(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    if not len(v):
        return np.inf
    med = float(np.median(v))
    mad = float(np.median(np.abs(v - med))) * 1.4826
    return max(med + 6.0 * mad, 1.0)


def find_outlier_frames(table: PoseTable, *, jump: float | None = None, min_score: float | None = None,
                        smooth_dev: float | None = None, n: int | None = None) -> np.ndarray:
    """Frames whose poses look wrong, worst first.

    Parameters
    ----------
    table : PoseTable
        Usually predictions (tracked or not).
    jump : float, optional
        Flag a frame when a node moves more than this many pixels from the previous frame.
    min_score : float, optional
        Flag a frame when a node score or an instance score is below this.
    smooth_dev : float, optional
        Flag a frame when a node is more than this many pixels from the running median of its
        trajectory.
    n : int, optional
        Return at most this many frames.

    Returns
    -------
    ndarray (M, 2) int64
        ``(video_id, frame_idx)`` of the flagged frames, ranked worst first (ties by video,
        then frame).
    """
    if jump is None and min_score is None and smooth_dev is None:
        auto = True
        min_score = 0.5
    else:
        auto = False
    if len(table) == 0:
        return np.zeros((0, 2), np.int64)
    m = outlier_measures(table)
    if auto:
        jump = _auto_threshold(m["jump"])
        smooth_dev = _auto_threshold(m["smooth_dev"])
    bad = np.zeros(len(table))
    with np.errstate(invalid="ignore", divide="ignore"):
        if jump is not None:
            r = m["jump"] / max(float(jump), 1e-9)
            bad += np.where(np.isfinite(r) & (r > 1), r, 0)
        if smooth_dev is not None:
            r = m["smooth_dev"] / max(float(smooth_dev), 1e-9)
            bad += np.where(np.isfinite(r) & (r > 1), r, 0)
        if min_score is not None:
            s = m["score"]
            r = float(min_score) / np.maximum(s, 1e-6)
            bad += np.where(np.isfinite(s) & (s < min_score), r, 0)
    flagged = bad > 0
    if not flagged.any():
        return np.zeros((0, 2), np.int64)
    keys = np.stack([table.video_id[flagged].astype(np.int64), table.frame_idx[flagged]], 1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    frame_bad = np.zeros(len(uniq))
    np.maximum.at(frame_bad, inv.reshape(-1), bad[flagged])
    order = np.lexsort((uniq[:, 1], uniq[:, 0], -frame_bad))
    out = uniq[order]
    if n is not None:
        out = out[: int(n)]
    return out.astype(np.int64)
