"""Pose accuracy metrics (numpy only).

Ground-truth and predicted instances are matched per frame (same ``video_id`` and
``frame_idx``) by Hungarian assignment maximising OKS
(:func:`scipy.optimize.linear_sum_assignment`).

OKS (object keypoint similarity, COCO)::

    OKS = mean over visible GT nodes of exp(-d^2 / (2 * area * (2 * sigma_k)^2))

with ``d`` the pixel distance, ``area`` the area of the GT bounding box of the visible nodes
(at least 1 px^2) and ``sigma_k`` the per-node sigma. By default every node uses the same
``sigma_k = 0.025`` (the value SLEAP uses for its evaluation when no per-node sigmas are
known; COCO's human keypoints range 0.025-0.107). A predicted node that is missing (NaN)
counts as infinitely far.

mAP / mAR follow COCO: thresholds 0.50:0.05:0.95; at each threshold a matched prediction is a
true positive when its OKS reaches the threshold; AP is the 101-point interpolated area under
the precision/recall curve with predictions ranked by instance score; AR is the recall.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_SIGMA", "OKS_THRESHOLDS", "PCK_THRESHOLDS", "oks_matrix", "match_instances",
           "pose_metrics", "format_metrics"]

DEFAULT_SIGMA = 0.025
OKS_THRESHOLDS = np.round(np.arange(0.50, 0.951, 0.05), 2)
PCK_THRESHOLDS = np.arange(1, 11)


def _bbox_area(pts: np.ndarray) -> np.ndarray:
    """(G, K, 2) with NaN -> (G,) bbox area of finite points, at least 1."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(pts, axis=1)
        hi = np.nanmax(pts, axis=1)
    wh = np.nan_to_num(hi - lo, nan=0.0)
    return np.maximum(wh[:, 0] * wh[:, 1], 1.0)


def oks_matrix(gt: np.ndarray, pred: np.ndarray, sigmas=DEFAULT_SIGMA, areas=None) -> np.ndarray:
    """OKS between every GT and predicted instance.

    Parameters
    ----------
    gt : (G, K, 2) GT points, NaN = not visible (not scored)
    pred : (P, K, 2) predicted points, NaN = missing (OKS contribution 0)
    sigmas : float or (K,)
    areas : (G,) or None (bbox area of visible GT points)

    Returns
    -------
    (G, P) float
    """
    g, k = gt.shape[:2]
    p = pred.shape[0]
    if g == 0 or p == 0:
        return np.zeros((g, p))
    sig = np.broadcast_to(np.asarray(sigmas, float), (k,))
    areas = _bbox_area(gt) if areas is None else np.asarray(areas, float)
    vis = np.isfinite(gt).all(-1)  # (G,K)
    d2 = ((gt[:, None] - pred[None]) ** 2).sum(-1)  # (G,P,K)
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    e = d2 / (2 * areas[:, None, None] * (2 * sig[None, None]) ** 2)
    sim = np.exp(-e) * vis[:, None, :]
    n_vis = vis.sum(-1)
    out = sim.sum(-1) / np.maximum(n_vis, 1)[:, None]
    out[n_vis == 0] = 0.0
    return out


def match_instances(gt: np.ndarray, pred: np.ndarray, sigmas=DEFAULT_SIGMA):
    """Hungarian matching on OKS. Returns (pairs (M, 2) [gt_i, pred_j], oks (M,), full matrix)."""
    from scipy.optimize import linear_sum_assignment

    m = oks_matrix(gt, pred, sigmas)
    if m.size == 0:
        return np.zeros((0, 2), int), np.zeros(0), m
    r, c = linear_sum_assignment(-m)
    keep = m[r, c] > 0
    return np.stack([r[keep], c[keep]], 1), m[r[keep], c[keep]], m


def _gt_points(table) -> np.ndarray:
    return np.where((table.state == 1)[..., None], table.points, np.nan).astype(float)


def _pred_points(table) -> np.ndarray:
    return np.where((table.state != 0)[..., None], table.points, np.nan).astype(float)


def _average_precision(scores, tp_at, n_gt):
    """COCO 101-point AP; ``tp_at`` (P, T) bool for each threshold."""
    if n_gt == 0:
        return np.full(tp_at.shape[1], np.nan), np.full(tp_at.shape[1], np.nan)
    order = np.argsort(-scores, kind="mergesort")
    tp = tp_at[order].astype(float)
    ctp = np.cumsum(tp, 0)
    cfp = np.cumsum(1 - tp, 0)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1e-12)
    aps, ars = [], []
    rs = np.linspace(0, 1, 101)
    for t in range(tp.shape[1]):
        if len(tp) == 0:
            aps.append(0.0)
            ars.append(0.0)
            continue
        pr = np.maximum.accumulate(precision[::-1, t])[::-1]
        idx = np.searchsorted(recall[:, t], rs, side="left")
        q = np.where(idx < len(pr), pr[np.minimum(idx, len(pr) - 1)], 0.0)
        aps.append(float(q.mean()))
        ars.append(float(recall[-1, t]))
    return np.array(aps), np.array(ars)


def _instance_scores(pred) -> np.ndarray:
    """Each predicted instance's score; where it has none, the mean of its node scores (else 1)."""
    pscore = np.asarray(pred.instance_score, float)
    with np.errstate(all="ignore"):
        sc = np.where(pred.state != 0, pred.score, np.nan)
        cnt = np.isfinite(sc).sum(1)
        mean_node = np.where(cnt > 0, np.nansum(sc, 1) / np.maximum(cnt, 1), np.nan)
    return np.where(np.isfinite(pscore), pscore, np.nan_to_num(mean_node, nan=1.0))


def _rows_by_frame(table, keep) -> dict:
    """``{(video_id, frame): [row, ...]}`` of the rows where ``keep`` is true."""
    out: dict = {}
    for i, key in enumerate(zip(table.video_id.tolist(), table.frame_idx.tolist())):
        if keep[i]:
            out.setdefault(key, []).append(i)
    return out


def _error_stats(d) -> dict:
    """Mean, median, p90, p95 and count of pixel errors (NaN and 0 when there are none)."""
    d = np.asarray(d, float)
    if len(d) == 0:
        return {"mean": float("nan"), "median": float("nan"), "p90": float("nan"), "p95": float("nan"), "n": 0}
    return {"mean": float(d.mean()), "median": float(np.median(d)), "p90": float(np.percentile(d, 90)),
            "p95": float(np.percentile(d, 95)), "n": int(len(d))}


def _node_stats(dists, n_visible: int) -> dict:
    """One node's error statistics, PCK@5 and detected fraction of its visible ground-truth points."""
    s = _error_stats(dists)
    s["pck_5"] = float((np.asarray(dists) <= 5).sum() / n_visible) if n_visible else float("nan")
    # fraction of this node's visible ground-truth points that were predicted at all
    s["detected"] = float(len(dists) / n_visible) if n_visible else float("nan")
    return s


def pose_metrics(gt, pred, *, sigmas=DEFAULT_SIGMA, node_names=None) -> dict:
    """Compare two pose tables (same skeleton).

    Parameters
    ----------
    gt : PoseTable (only visible nodes, state 1, are scored)
    pred : PoseTable (nodes with state != 0 count as predicted)
    sigmas : float or (K,) per-node OKS sigma (default uniform 0.025)

    Returns
    -------
    dict with ``oks_map``, ``oks_mar``, ``ap_per_threshold``, ``oks_mean`` (mean OKS of matched
    GT, unmatched GT count 0), ``pck`` {t: fraction}, ``pck_5``, ``error`` (mean/median/p90/p95
    over all matched visible nodes), ``per_node`` {name: {mean, median, p90, p95, n, pck_5}},
    ``visibility`` {precision, recall}, counts, and ``distances`` (list of per-node arrays)
    for plots.
    """
    k = gt.points.shape[1]
    names = list(node_names) if node_names is not None else [f"node{i}" for i in range(k)]
    gpts, ppts = _gt_points(gt), _pred_points(pred)
    pscore = _instance_scores(pred)
    gkeys = _rows_by_frame(gt, np.isfinite(gpts).any(axis=(1, 2)))
    pkeys = _rows_by_frame(pred, np.ones(len(pred), bool))
    n_gt = sum(len(v) for v in gkeys.values())
    dists = [[] for _ in range(k)]
    n_gt_vis = np.zeros(k, int)
    tp_vis = fp_vis = fn_vis = 0
    oks_sum = 0.0
    p_scores, p_tp = [], []
    for key in set(gkeys) | set(pkeys):
        gi = gkeys.get(key, [])
        pj = pkeys.get(key, [])
        g, p = gpts[gi] if gi else np.zeros((0, k, 2)), ppts[pj] if pj else np.zeros((0, k, 2))
        n_gt_vis += np.isfinite(g).all(-1).sum(0)
        pairs, oks, _ = match_instances(g, p, sigmas)
        matched_p = np.full(len(pj), np.nan)
        for (a, b), o in zip(pairs, oks):
            matched_p[b] = o
            oks_sum += o
            gv = np.isfinite(g[a]).all(-1)
            pv = np.isfinite(p[b]).all(-1)
            d = np.linalg.norm(g[a] - p[b], axis=-1)
            for n in np.nonzero(gv & pv)[0]:
                dists[n].append(float(d[n]))
            tp_vis += int((gv & pv).sum())
            fp_vis += int((~gv & pv).sum())
            fn_vis += int((gv & ~pv).sum())
        for b in range(len(pj)):
            p_scores.append(pscore[pj[b]])
            p_tp.append(matched_p[b])
    oks_matched = np.array(p_tp, float)
    tp_at = np.nan_to_num(oks_matched, nan=-1)[:, None] >= OKS_THRESHOLDS[None]
    aps, ars = _average_precision(np.array(p_scores, float), tp_at.reshape(-1, len(OKS_THRESHOLDS)), n_gt)
    all_d = np.concatenate([np.asarray(d) for d in dists]) if k else np.zeros(0)
    total_vis = int(n_gt_vis.sum())
    pck = {int(t): (float((all_d <= t).sum() / total_vis) if total_vis else float("nan")) for t in PCK_THRESHOLDS}
    per_node = {names[n]: _node_stats(dists[n], n_gt_vis[n]) for n in range(k)}
    return {
        "oks_map": float(np.nanmean(aps)) if n_gt else float("nan"),
        "oks_mar": float(np.nanmean(ars)) if n_gt else float("nan"),
        "ap_per_threshold": {f"{t:.2f}": float(a) for t, a in zip(OKS_THRESHOLDS, aps)},
        "oks_mean": float(oks_sum / n_gt) if n_gt else float("nan"),
        "oks_sigma": sigmas if np.isscalar(sigmas) else list(map(float, np.asarray(sigmas))),
        "pck": pck,
        "pck_5": pck[5],
        "error": _error_stats(all_d),
        "per_node": per_node,
        "visibility": {"precision": tp_vis / max(tp_vis + fp_vis, 1), "recall": tp_vis / max(tp_vis + fn_vis, 1)},
        "n_gt_instances": int(n_gt),
        "n_pred_instances": int(len(p_scores)),
        "n_matched": int(np.isfinite(oks_matched).sum()),
        "distances": [list(map(float, d)) for d in dists],
    }


def format_metrics(m: dict) -> str:
    """A few lines of text summarising :func:`pose_metrics`."""
    e = m["error"]
    lines = [
        f"OKS mAP {m['oks_map']:.3f}  mAR {m['oks_mar']:.3f}  (sigma {m['oks_sigma']})",
        f"PCK@1px {m['pck'][1]:.3f}  PCK@5px {m['pck'][5]:.3f}  PCK@10px {m['pck'][10]:.3f}",
        f"pixel error mean {e['mean']:.2f}  median {e['median']:.2f}  p90 {e['p90']:.2f}  p95 {e['p95']:.2f}",
        f"visibility precision {m['visibility']['precision']:.3f}  recall {m['visibility']['recall']:.3f}",
        f"instances: {m['n_gt_instances']} GT, {m['n_pred_instances']} predicted, {m['n_matched']} matched",
    ]
    return "\n".join(lines)
