"""One ranked queue of frames worth a proofreader's look.

All signals are scored in [0, 1] per frame, weighted and summed into one ranking:

================  ==========================================================================
signal            what raises it
================  ==========================================================================
``swap``          small margin between the current assignment of two tracks from the previous
                  frame and the swapped one (mean node distance; a negative margin means the
                  swapped identities fit better)
``crossing``      two tracks' centroids closer than half an animal
``jump``          a track's centroid step much larger than its usual (95th percentile) step
``start_end``     a track starts or ends inside the video
``count``         the number of instances differs from the previous frame
``low_score``     an instance score below ``min_score``
``identity``      an identity model confidently names another animal than the instance's track
                  (``identity_disagree``, from :func:`.identity.combine_identity_tracks`)
``reprojection``  a labelled node lies more than ``max_reprojection_px`` from where the other
                  camera views of a calibrated rig put it (``reprojection_px``, from
                  :func:`napari_posetrack.core.multiview.suspects.reprojection_errors_for`)
================  ==========================================================================

Neighbouring frames flagged for the same event are merged (the best frame of each run of
frames within ``nms_window`` is kept) so the queue does not list one crossing ten times.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ..posetable import PoseTable

__all__ = ["SuspectQueue", "suspect_frames", "identity_reason", "DEFAULT_WEIGHTS"]

DEFAULT_WEIGHTS = {"swap": 3.0, "crossing": 1.0, "jump": 2.0, "start_end": 1.0, "count": 0.5, "low_score": 1.0,
                   "identity": 3.0, "reprojection": 2.0}


@dataclass
class SuspectQueue:
    """Frames ranked worst first.

    Attributes
    ----------
    frames : ndarray (M, 2) int64
        ``(video_id, frame_idx)``.
    scores : ndarray (M,) float
        Combined suspicion (higher = look first).
    reasons : list of str
        Human-readable reason per entry, e.g. ``"swap? tracks 0/1 (margin -3.2 px)"``.
    tracks : list of tuple of int
        Track ids involved per entry (first two feed the swap command).
    """

    frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reasons: list = field(default_factory=list)
    tracks: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.scores)

    def next_after(self, position: int) -> int:
        """Index of the entry after ``position`` (wraps around); -1 when empty."""
        return -1 if not len(self) else (position + 1) % len(self)


def _mean_node_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) mean distance over nodes present in both poses."""
    d = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(d, -1)


def _pair_signals(t, rows, fpos, tix, tracks, c0, c1, size, sig, why, who) -> None:
    """Crossing and swap signals for frame positions ``c0..c1-1`` (and ``c0-1`` as previous)."""
    lo = max(c0 - 1, 0)
    sel = (fpos >= lo) & (fpos < c1)
    T, K = len(tracks), t.n_nodes
    dense = np.full((c1 - lo, T, K, 2), np.nan, np.float32)  # (frames, tracks, nodes, xy)
    dense[fpos[sel] - lo, tix[sel]] = t.points[rows[sel]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cent = np.nanmean(dense, axis=2)  # (F, T, 2)
        d = np.linalg.norm(cent[:, :, None] - cent[:, None], axis=-1)  # (F, T, T)
        eye = np.eye(T, dtype=bool)
        d = np.where(eye[None] | ~np.isfinite(d), np.inf, d)
        flat = d.reshape(len(d), -1).argmin(1)
        dmin = d.reshape(len(d), -1)[np.arange(len(d)), flat]
        for j in np.flatnonzero(dmin < 0.5 * size):
            i = lo + j
            if i < c0:
                continue
            a, b = divmod(int(flat[j]), T)
            sig["crossing"][i] = 1.0 - dmin[j] / (0.5 * size)
            why["crossing"][i] = f"tracks {tracks[a]}/{tracks[b]} {dmin[j]:.0f} px apart"
        # D[f, x, y]: mean node distance between track x at the previous frame and y now
        prev, cur = dense[:-1], dense[1:]
        D = np.nanmean(np.linalg.norm(prev[:, :, None] - cur[:, None], axis=-1), axis=-1)  # (F-1, T, T)
    keep = np.diagonal(D, axis1=1, axis2=2)  # (F-1, T)
    swap = D + np.swapaxes(D, 1, 2) - keep[:, :, None] - keep[:, None, :]
    swap = np.where(eye[None] | ~np.isfinite(swap), np.inf, swap)
    flat = swap.reshape(len(swap), -1).argmin(1) if len(swap) else np.zeros(0, int)
    margin = swap.reshape(len(swap), -1)[np.arange(len(swap)), flat]
    score = np.clip(1.0 - margin / (0.25 * size), 0, 1)
    for j in np.flatnonzero(np.isfinite(margin) & (score > 0)):
        i = lo + j + 1
        if i < c0:
            continue
        x, y = divmod(int(flat[j]), T)
        sig["swap"][i] = score[j]
        why["swap"][i] = f"swap? tracks {tracks[x]}/{tracks[y]} (margin {margin[j]:.1f} px)"
        who[i] = (int(tracks[x]), int(tracks[y]))


def _video_signals(t: PoseTable, min_score: float, chunk: int = 2000) -> tuple[np.ndarray, dict, dict, dict]:
    frames = np.unique(t.frame_idx)
    pos = {int(f): i for i, f in enumerate(frames)}
    F = len(frames)
    sig = {k: np.zeros(F) for k in DEFAULT_WEIGHTS}
    why: dict[str, dict[int, str]] = {k: {} for k in DEFAULT_WEIGHTS}
    who: dict[int, tuple] = {}
    cents = t.centroids()
    bb = t.bboxes()
    sizes = np.sqrt(np.abs((bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])))
    size = float(np.nanmedian(sizes)) if np.isfinite(sizes).any() else 50.0
    # instance count changes and low scores
    fi = np.array([pos[int(f)] for f in t.frame_idx])
    counts = np.bincount(fi, minlength=F)
    dc = np.abs(np.diff(counts, prepend=counts[0]))
    sig["count"] = np.minimum(dc, 2) / 2.0
    for i in np.flatnonzero(dc):
        why["count"][i] = f"{counts[i - 1] if i else counts[i]} -> {counts[i]} instances"
    sc = t.instance_score
    low = np.isfinite(sc) & (sc < min_score)
    if low.any():
        val = np.zeros(F)
        np.maximum.at(val, fi[low], 1.0 - sc[low] / max(min_score, 1e-6))
        sig["low_score"] = val
        for r in np.flatnonzero(low):
            why["low_score"].setdefault(fi[r], f"score {sc[r]:.2f}")
    tid = t.track_id
    tracks = np.unique(tid[tid >= 0])
    # per-track: starts/ends and velocity jumps
    for k in tracks:
        rows = np.flatnonzero(tid == k)
        rows = rows[np.argsort(t.frame_idx[rows])]
        fpos = fi[rows]
        if fpos[0] > 0:
            sig["start_end"][fpos[0]] = 1.0
            why["start_end"][fpos[0]] = f"track {k} starts"
            who.setdefault(fpos[0], (int(k),))
        if fpos[-1] < F - 1:
            sig["start_end"][fpos[-1]] = 1.0
            why["start_end"][fpos[-1]] = f"track {k} ends"
            who.setdefault(fpos[-1], (int(k),))
        if len(rows) > 2:
            gap = np.maximum(np.diff(t.frame_idx[rows]), 1)
            step = np.linalg.norm(np.diff(cents[rows], axis=0), axis=1) / gap
            ok = np.isfinite(step)
            if ok.sum() > 2:
                p95 = max(float(np.percentile(step[ok], 95)), 0.02 * size)
                s = np.clip((step / p95 - 1.5) / 3.0, 0, 1)
                s[~ok] = 0
                for j in np.flatnonzero(s > 0):
                    f = fpos[j + 1]
                    if s[j] > sig["jump"][f]:
                        sig["jump"][f] = s[j]
                        why["jump"][f] = f"track {k} jumps {step[j]:.0f} px"
                        who[f] = (int(k),)
    # pairwise: crossings and swap margins between consecutive frames (dense per chunk of frames)
    tracked = np.flatnonzero(tid >= 0)
    if len(tracks) >= 2:
        tix = np.searchsorted(tracks, tid[tracked])
        for c0 in range(0, F, chunk):
            _pair_signals(t, tracked, fi[tracked], tix, tracks, c0, min(F, c0 + chunk), size, sig, why, who)
    return frames, sig, why, who


def _reprojection_signal(t, frames, err, thr, node_names, sig, why, who) -> None:
    fpos = np.searchsorted(frames, t.frame_idx)
    with np.errstate(invalid="ignore"):
        rows, nodes = np.nonzero(np.isfinite(err) & (err > thr))
    for r, k in zip(rows, nodes):
        f, s = int(fpos[r]), min(1.0, err[r, k] / (3.0 * thr))
        if s > sig["reprojection"][f]:
            sig["reprojection"][f] = s
            name = node_names[k] if node_names is not None else f"node {k}"
            why["reprojection"][f] = f"{name} {err[r, k]:.1f} px from the other views"
            if t.track_id[r] >= 0:
                who.setdefault(f, (int(t.track_id[r]),))


def identity_reason(table: PoseTable, row: int, track_names=None) -> str:
    """Why row ``row`` is an identity suspect: ``"identity model says 'M' (0.97), track 'F'"`` (``class 1`` and
    ``track 0`` without ``track_names``)."""
    names = [str(n) for n in track_names] if track_names is not None else None

    def name(j, unnamed):
        return repr(names[j]) if names is not None and 0 <= j < len(names) else unnamed

    track = int(table.track_id[row])
    probs = table.identity_probs[row] if table.identity_probs.shape[1] else np.zeros(0)
    if not np.isfinite(probs).any():
        return f"identity model disagrees with track {name(track, str(track))}"
    j = int(np.nanargmax(probs))
    return f"identity model says {name(j, f'class {j}')} ({float(probs[j]):.2f}), track {name(track, str(track))}"


def suspect_frames(table: PoseTable, *, weights: dict | None = None, min_score: float = 0.3,
                   nms_window: int = 3, n: int | None = None, identity_disagree=None, reprojection_px=None,
                   max_reprojection_px: float = 20.0, node_names=None, track_names=None) -> SuspectQueue:
    """Rank frames of ``table`` (tracked instances) by how likely they hold a tracking error.

    Parameters
    ----------
    table : PoseTable
        Instances with track ids (predictions after tracking, usually).
    weights : dict, optional
        Weight per signal (see :data:`DEFAULT_WEIGHTS`); 0 turns a signal off.
    min_score : float
        Instance scores below this raise ``low_score``.
    nms_window : int
        Keep only the best frame among flagged frames closer than this.
    n : int, optional
        Keep the ``n`` worst entries.
    identity_disagree : ndarray (N,) bool, optional
        Rows of ``table`` where an identity model disagrees with the track (signal ``identity``); the
        reason names the class the model says (the largest of the row's ``identity_probs``, whose
        column ``j`` is track ``j``) and the track, by ``track_names`` when given.
    reprojection_px : ndarray (N, K) float, optional
        Per row and node, the distance (px) of the label from the other camera views' 3D point
        (NaN: unknown); above ``max_reprojection_px`` it raises ``reprojection`` (scaled so that
        3 x the threshold scores 1). ``node_names`` names the nodes in the reasons.
    """
    w = dict(DEFAULT_WEIGHTS)
    w.update(weights or {})
    out_f, out_s, out_r, out_t = [], [], [], []
    for vid in np.unique(table.video_id):
        t = table.for_video(int(vid))
        frames, sig, why, who = _video_signals(t, min_score)
        if identity_disagree is not None:
            dis = np.asarray(identity_disagree, bool)[table.video_id == vid]
            fpos = np.searchsorted(frames, t.frame_idx)
            for r in np.flatnonzero(dis):
                sig["identity"][fpos[r]] = 1.0
                why["identity"].setdefault(fpos[r], identity_reason(t, r, track_names))  # the frame's first
                who.setdefault(int(fpos[r]), (int(t.track_id[r]),))
        if reprojection_px is not None:
            err = np.asarray(reprojection_px, np.float64).reshape(len(table), -1)[table.video_id == vid]
            _reprojection_signal(t, frames, err, float(max_reprojection_px), node_names, sig, why, who)
        total = sum(w[k] * sig[k] for k in sig)
        flagged = np.flatnonzero(total > 0)
        # non-maximum suppression over time
        order = flagged[np.argsort(-total[flagged], kind="stable")]
        taken = np.zeros(len(frames), bool)
        for i in order:
            lo, hi = max(0, i - nms_window), min(len(frames), i + nms_window + 1)
            near = np.abs(frames[lo:hi] - frames[i]) <= nms_window
            if taken[lo:hi][near].any():
                continue
            taken[i] = True
            parts = sorted(((w[k] * sig[k][i], why[k].get(i, k)) for k in sig if sig[k][i] > 0), reverse=True)
            out_f.append((int(vid), int(frames[i])))
            out_s.append(float(total[i]))
            out_r.append("; ".join(p[1] for p in parts))
            out_t.append(who.get(i, ()))
    order = np.argsort(-np.asarray(out_s), kind="stable") if out_s else np.zeros(0, int)
    if n is not None:
        order = order[:n]
    return SuspectQueue(np.asarray(out_f, np.int64).reshape(-1, 2)[order], np.asarray(out_s)[order],
                        [out_r[i] for i in order], [out_t[i] for i in order])
