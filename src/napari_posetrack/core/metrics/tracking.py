"""Tracking quality against proofread ground truth: IDF1, ID switches, MOTA, fragmentations.

Both tables are compared frame by frame (per video). In each frame, ground-truth and
predicted instances are matched with the Hungarian algorithm on OKS (or centroid
distance); a pair counts only if it passes ``match_threshold`` (OKS >= threshold, or
distance <= threshold pixels). Rows with ``track_id == -1`` are ignored on both sides: an
untracked detection carries no identity.

* **ID switches** (CLEAR MOT): a ground-truth track matched to a different predicted track
  than the last time it was matched.
* **Fragmentations**: a ground-truth track's matched stretch is interrupted (matched, then
  unmatched in a frame where it exists, then matched again).
* **MOTA** = 1 - (FN + FP + IDSW) / n_gt.
* **IDF1** = 2 IDTP / (n_gt + n_pred), with IDTP from the one-to-one ground-truth/predicted
  track pairing that maximises the frames in which the pair is within the threshold
  (Ristani et al. 2016).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import PoseTrackError
from ..posetable import PoseTable

__all__ = ["tracking_metrics", "match_frame"]


def _similarity(gt_pts, pr_pts, by: str, kappa: float) -> np.ndarray:
    from ..tracking.costs import centroid_cost, oks

    if by == "oks":
        return oks(pr_pts, gt_pts, kappa=kappa).T.astype(np.float64)  # (G, P), scale of the GT pose
    if by == "centroid":
        return -centroid_cost(gt_pts, pr_pts)
    raise PoseTrackError(f"Unknown match_by {by!r}.", hint="Use 'oks' or 'centroid'.")


def match_frame(gt_pts: np.ndarray, pr_pts: np.ndarray, *, by: str = "oks", threshold: float | None = None,
                kappa: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Match one frame's ground truth (G, K, 2) to predictions (P, K, 2).

    Returns ``(gt_rows, pred_rows, ok)`` where ``ok`` (G, P) bool says which pairs pass the
    threshold (used for IDF1) and the row arrays are the accepted Hungarian pairs.
    """
    thr = threshold if threshold is not None else (0.5 if by == "oks" else 20.0)
    sim = _similarity(gt_pts, pr_pts, by, kappa)
    ok = sim >= thr if by == "oks" else sim >= -thr
    ok &= np.isfinite(sim)
    if not ok.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), ok
    cost = np.where(ok, -np.where(np.isfinite(sim), sim, 0.0), 1e6)
    r, c = linear_sum_assignment(cost)
    keep = ok[r, c]
    return r[keep], c[keep], ok


def _video_metrics(gt: PoseTable, pred: PoseTable, by, threshold, kappa) -> dict:
    gt_ids = np.unique(gt.track_id)
    pr_ids = np.unique(pred.track_id)
    g_index = {int(t): i for i, t in enumerate(gt_ids)}
    p_index = {int(t): i for i, t in enumerate(pr_ids)}
    co = np.zeros((len(gt_ids), len(pr_ids)), np.int64)  # frames where (g, p) are within threshold
    pred_groups = {f: rows for _, f, rows in pred.frame_groups()}
    last_match: dict[int, int] = {}
    was_tracked: dict[int, bool] = {}
    tp = fn = fp = idsw = frag = 0
    frames_seen = set()
    for _, f, g_rows in gt.frame_groups():
        frames_seen.add(f)
        p_rows = pred_groups.get(f, np.zeros(0, np.int64))
        r, c, ok = match_frame(gt.points[g_rows], pred.points[p_rows], by=by, threshold=threshold, kappa=kappa)
        gi, pi = np.nonzero(ok)
        np.add.at(co, ([g_index[int(t)] for t in gt.track_id[g_rows[gi]]],
                       [p_index[int(t)] for t in pred.track_id[p_rows[pi]]]), 1)
        tp += len(r)
        fn += len(g_rows) - len(r)
        fp += len(p_rows) - len(c)
        matched = {int(gt.track_id[g_rows[a]]): int(pred.track_id[p_rows[b]]) for a, b in zip(r, c)}
        for g in gt.track_id[g_rows]:
            g = int(g)
            if g in matched:
                if g in last_match and last_match[g] != matched[g]:
                    idsw += 1
                if was_tracked.get(g) is False and g in last_match:
                    frag += 1
                last_match[g] = matched[g]
                was_tracked[g] = True
            else:
                was_tracked[g] = False
    fp += sum(len(rows) for f, rows in pred_groups.items() if f not in frames_seen)
    n_gt, n_pred = len(gt), len(pred)
    if co.size:
        r, c = linear_sum_assignment(-co)
        idtp = int(co[r, c].sum())
        mapping = {int(gt_ids[a]): int(pr_ids[b]) for a, b in zip(r, c) if co[a, b] > 0}
    else:
        idtp, mapping = 0, {}
    denom = n_gt + n_pred
    return {
        "idf1": 2.0 * idtp / denom if denom else 1.0,
        "idp": idtp / n_pred if n_pred else 1.0,
        "idr": idtp / n_gt if n_gt else 1.0,
        "id_switches": idsw,
        "fragmentations": frag,
        "mota": 1.0 - (fn + fp + idsw) / n_gt if n_gt else 1.0,
        "precision": tp / (tp + fp) if (tp + fp) else 1.0,
        "recall": tp / (tp + fn) if (tp + fn) else 1.0,
        "true_positives": tp,
        "false_negatives": fn,
        "false_positives": fp,
        "n_gt": n_gt,
        "n_pred": n_pred,
        "n_gt_tracks": len(gt_ids),
        "n_pred_tracks": len(pr_ids),
        "track_mapping": mapping,
    }


_SUMS = ("id_switches", "fragmentations", "true_positives", "false_negatives", "false_positives", "n_gt",
         "n_pred", "n_gt_tracks", "n_pred_tracks")


def tracking_metrics(gt: PoseTable, pred: PoseTable, *, match_threshold: float | None = None,
                     match_by: str = "oks", kappa: float = 0.1) -> dict:
    """Tracking metrics of ``pred`` against ground truth ``gt``, per video and overall.

    Parameters
    ----------
    gt, pred : PoseTable
        Tracked instances (rows with ``track_id == -1`` are ignored).
    match_threshold : float, optional
        Minimum OKS (``match_by="oks"``, default 0.5) or maximum centroid distance in pixels
        (``match_by="centroid"``, default 20) for a prediction to match a ground-truth instance.
    match_by : {"oks", "centroid"}
    kappa : float
        OKS spread (fraction of the animal's size).

    Returns
    -------
    dict
        ``idf1, idp, idr, id_switches, fragmentations, mota, precision, recall,
        true_positives, false_negatives, false_positives, n_gt, n_pred`` over all videos, and
        ``per_video``: the same per video id (with ``track_mapping`` gt track -> pred track).
    """
    if gt.n_nodes != pred.n_nodes and match_by == "oks":
        raise PoseTrackError(
            f"Ground truth has {gt.n_nodes} nodes and predictions {pred.n_nodes}; OKS needs the same skeleton.",
            hint="Map both onto one skeleton, or pass match_by='centroid'.",
        )
    gt = gt.take(gt.track_id >= 0)
    pred = pred.take(pred.track_id >= 0)
    if len(gt) == 0:
        raise PoseTrackError("The ground truth has no tracked instances to compare with.",
                             hint="Use proofread labels with identities (track ids) as ground truth.")
    per_video = {}
    for vid in np.unique(gt.video_id):
        per_video[int(vid)] = _video_metrics(gt.for_video(int(vid)), pred.for_video(int(vid)), match_by,
                                             match_threshold, kappa)
    extra_fp = int((~np.isin(pred.video_id, gt.video_id)).sum())
    tot = {k: sum(v[k] for v in per_video.values()) for k in _SUMS}
    tot["false_positives"] += extra_fp
    tot["n_pred"] += extra_fp
    idtp = sum(v["idf1"] * (v["n_gt"] + v["n_pred"]) / 2.0 for v in per_video.values())
    n_gt, n_pred = tot["n_gt"], tot["n_pred"]
    tp, fn, fp = tot["true_positives"], tot["false_negatives"], tot["false_positives"]
    out = {
        "idf1": 2.0 * idtp / (n_gt + n_pred) if (n_gt + n_pred) else 1.0,
        "idp": idtp / n_pred if n_pred else 1.0,
        "idr": idtp / n_gt if n_gt else 1.0,
        "mota": 1.0 - (fn + fp + tot["id_switches"]) / n_gt,
        "precision": tp / (tp + fp) if (tp + fp) else 1.0,
        "recall": tp / (tp + fn) if (tp + fn) else 1.0,
        **tot,
        "per_video": per_video,
    }
    return out
