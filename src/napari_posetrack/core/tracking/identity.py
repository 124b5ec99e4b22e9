"""Identity plus tracking: tracklets stitched to named identities, and where the two disagree.

An identity model gives each instance class probabilities (``probs`` (N, C)); a temporal
tracker gives tracklets (``track_id``). :func:`combine_identity_tracks`:

1. **stitches** every tracklet to the class with the most summed log-probability over its
   frames, longest tracklets first, never giving one class to two tracklets that share a
   frame;
2. **decides each frame** by Hungarian matching on the cost
   ``(1 - W) * [class != the tracklet's class] + W * -log p(class)``, so that no two instances
   share a class: ``W = 0`` keeps the stitched tracks, ``W = 1`` is the identity model alone,
   and in between the appearance can overrule a tracklet only where it is confident;
3. **flags** the rows where the appearance disagrees with the track (the frame's most likely
   class assignment differs from the stitched tracklet's class with probability of at least
   ``flag_prob``): these go into the proofreading suspect queue as the ``identity`` signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TrackingError

__all__ = ["IdentityTrackResult", "stitch_to_identities", "combine_identity_tracks", "identity_disagreements"]


@dataclass
class IdentityTrackResult:
    """Track ids that are class indices, plus what the appearance and the tracks disagreed on.

    Attributes
    ----------
    track_id : ndarray (N,) int32
        Class index of every row (-1 = left unnamed: more animals than classes).
    tracklet_class : dict int -> int
        Class given to each input tracklet (-1 = none).
    disagree : ndarray (N,) bool
        Rows whose appearance says another class than their tracklet's, confidently.
    messages : list of str
    """

    track_id: np.ndarray
    tracklet_class: dict
    disagree: np.ndarray
    messages: list = field(default_factory=list)


def _check(table, probs):
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[0] != len(table):
        raise TrackingError(
            f"Expected class probabilities of shape ({len(table)}, n_classes), one row per instance; got "
            f"{probs.shape}.", hint="Pass the probabilities of the same rows as the table (identity model output).")
    return np.clip(np.nan_to_num(probs, nan=1.0 / max(probs.shape[1], 1)), 1e-9, 1.0)


def stitch_to_identities(table, probs) -> dict:
    """Class of each tracklet ``{track_id: class}`` (see the module docstring, step 1)."""
    probs = _check(table, probs)
    logp = np.log(probs)
    c = probs.shape[1]
    tids = [int(t) for t in np.unique(table.track_id) if t >= 0]
    rows = {t: np.flatnonzero(table.track_id == t) for t in tids}
    frames = {t: set(zip(table.video_id[r].tolist(), table.frame_idx[r].tolist())) for t, r in rows.items()}
    evidence = {t: logp[r].sum(0) for t, r in rows.items()}
    out: dict[int, int] = {}
    for t in sorted(tids, key=lambda t: (-len(rows[t]), t)):
        taken = {out[u] for u in out if out[u] >= 0 and frames[u] & frames[t]}
        order = np.argsort(-evidence[t], kind="stable")
        out[t] = next((int(k) for k in order if int(k) not in taken), -1) if c else -1
    return out


def combine_identity_tracks(table, probs, *, weight: float = 0.5, flag_prob: float = 0.9) -> IdentityTrackResult:
    """Named tracks from a tracked table and identity probabilities (module docstring, steps 1-3).

    Parameters
    ----------
    table : PoseTable
        Tracked instances (``track_id`` from a temporal tracker; -1 rows are decided by identity alone).
    probs : ndarray (N, C)
        Class probabilities of the rows.
    weight : float in [0, 1]
        Weight of the appearance against the tracklets (``--identity-weight``).
    flag_prob : float
        Appearance probability from which a disagreement with the track is flagged.
    """
    from scipy.optimize import linear_sum_assignment

    if not 0.0 <= float(weight) <= 1.0:
        raise TrackingError(f"--identity-weight must be between 0 and 1, got {weight}.",
                            hint="0 = the tracker's tracklets decide, 1 = the identity model decides.")
    probs = _check(table, probs)
    n, c = probs.shape
    tracklet_class = stitch_to_identities(table, probs)
    stitched = np.asarray([tracklet_class.get(int(t), -1) if t >= 0 else -1 for t in table.track_id], np.int64)
    out = np.full(n, -1, np.int32)
    disagree = np.zeros(n, bool)
    for _, _, rows in table.frame_groups():
        p = probs[rows]
        mismatch = np.ones((len(rows), c))
        has = stitched[rows] >= 0
        mismatch[np.flatnonzero(has), stitched[rows][has]] = 0.0
        mismatch[~has] = 0.0  # an untracked row: only its appearance speaks
        cost = (1.0 - weight) * mismatch + weight * -np.log(p)
        r, k = linear_sum_assignment(cost)
        out[rows[r]] = k
        ri, ki = linear_sum_assignment(-np.log(p))  # what the appearance alone says
        alone = np.full(len(rows), -1)
        alone[ri] = ki
        for j in range(len(rows)):
            s = stitched[rows[j]]
            if s >= 0 and alone[j] >= 0 and alone[j] != s and p[j, alone[j]] >= flag_prob:
                disagree[rows[j]] = True
    msgs = []
    if disagree.any():
        msgs.append(f"the identity model disagrees with the track in {int(disagree.sum())} instance(s); they are "
                    "in the proofreading suspect queue (signal 'identity')")
    return IdentityTrackResult(out, tracklet_class, disagree, msgs)


def identity_disagreements(table, probs=None, *, flag_prob: float = 0.9) -> np.ndarray:
    """Rows (N,) bool whose appearance confidently names another animal than their track.

    ``probs`` (N, C) default to ``table.identity_probs``, whose column ``j`` is track ``j`` (the
    tracks are the identity classes, as :func:`combine_identity_tracks` and the identity predictors
    leave them). Per frame, the instances get the classes the appearance alone prefers (Hungarian on
    ``-log p``); a row is flagged where that class is not its track and has probability at least
    ``flag_prob``. All False when there are no probabilities.
    """
    from scipy.optimize import linear_sum_assignment

    probs = table.identity_probs if probs is None else np.asarray(probs, np.float64)
    out = np.zeros(len(table), bool)
    if probs.ndim != 2 or probs.shape[0] != len(table) or probs.shape[1] == 0:
        return out
    p = np.clip(np.nan_to_num(np.asarray(probs, np.float64), nan=0.0), 1e-9, 1.0)
    known = np.isfinite(np.asarray(probs, np.float64)).any(1)
    for _, _, rows in table.frame_groups():
        rows = rows[known[rows]]
        if not len(rows):
            continue
        ri, ki = linear_sum_assignment(-np.log(p[rows]))
        for r, k in zip(rows[ri], ki):
            t = int(table.track_id[r])
            out[r] = t >= 0 and k != t and p[r, k] >= flag_prob
    return out
