"""Instance filters applied to the predictions of one frame (numpy only).

Order: minimum visible nodes, minimum instance score, duplicate suppression by OKS (the
lower-scored of two instances whose OKS exceeds the threshold is dropped), then the maximum
number of instances (best scores kept).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["FilterConfig", "instance_scores", "pairwise_oks", "filter_instances"]


@dataclass
class FilterConfig:
    """Per-frame instance filters.

    Attributes
    ----------
    max_instances : int or None
        Keep at most this many instances per frame (highest instance score first).
    min_instance_score : float
        Drop instances scoring lower.
    min_visible_nodes : int
        Drop instances with fewer predicted nodes.
    oks_threshold : float or None
        Drop the lower-scored of two instances with an OKS above this (duplicates).
    oks_sigma : float
        Per-node OKS sigma (fraction of the instance scale) used for duplicates.
    """

    max_instances: int | None = None
    min_instance_score: float = 0.0
    min_visible_nodes: int = 1
    oks_threshold: float | None = 0.8
    oks_sigma: float = 0.05


def instance_scores(node_scores: np.ndarray) -> np.ndarray:
    """Instance score = mean node score over all K nodes, missing nodes counting 0.

    Parameters
    ----------
    node_scores : ndarray (I, K)

    Returns
    -------
    ndarray (I,) float32 in [0, 1] for maps in [0, 1]
    """
    s = np.nan_to_num(np.asarray(node_scores, np.float32), nan=0.0)
    if s.shape[-1] == 0:
        return np.zeros(s.shape[:-1], np.float32)
    return np.clip(s, 0.0, None).mean(-1).astype(np.float32)


def pairwise_oks(points: np.ndarray, sigma: float = 0.05) -> np.ndarray:
    """OKS between every pair of instances of one frame.

    The scale of a pair is the larger bounding-box area of the two (at least a quarter of the
    box's longer side squared, so that a straight animal has a size); nodes missing in either
    instance are ignored.

    Parameters
    ----------
    points : ndarray (I, K, 2)
    sigma : float

    Returns
    -------
    ndarray (I, I) float32
    """
    p = np.asarray(points, np.float32)
    n = len(p)
    if n == 0:
        return np.zeros((0, 0), np.float32)
    vis = np.isfinite(p).all(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        lo = np.nanmin(np.where(vis[..., None], p, np.nan), axis=1)
        hi = np.nanmax(np.where(vis[..., None], p, np.nan), axis=1)
    wh = np.nan_to_num(hi - lo, nan=0.0)
    # bounding-box area, at least a quarter of the longer side squared (thin, straight animals)
    area = np.maximum(wh.prod(-1), 0.25 * wh.max(-1) ** 2)
    scale = np.maximum(np.maximum(area[:, None], area[None, :]), 1.0)
    d2 = ((p[:, None] - p[None, :]) ** 2).sum(-1)  # (I, I, K)
    both = vis[:, None] & vis[None, :]
    e = np.exp(-d2 / (2.0 * scale[..., None] * (2 * sigma) ** 2))
    e = np.where(both, e, 0.0)
    cnt = both.sum(-1)
    return np.where(cnt > 0, e.sum(-1) / np.maximum(cnt, 1), 0.0).astype(np.float32)


def filter_instances(points: np.ndarray, node_scores: np.ndarray, inst_scores: np.ndarray,
                     cfg: FilterConfig | None = None) -> np.ndarray:
    """Indices of the instances of one frame that pass the filters, best score first.

    Parameters
    ----------
    points : ndarray (I, K, 2)
    node_scores : ndarray (I, K)
    inst_scores : ndarray (I,)
    cfg : FilterConfig

    Returns
    -------
    ndarray (J,) int64
    """
    cfg = cfg or FilterConfig()
    points = np.asarray(points, np.float32)
    n = len(points)
    if n == 0:
        return np.zeros(0, np.int64)
    n_vis = np.isfinite(points).all(-1).sum(-1)
    inst_scores = np.nan_to_num(np.asarray(inst_scores, np.float32), nan=0.0)
    ok = (n_vis >= max(int(cfg.min_visible_nodes), 1)) & (inst_scores >= cfg.min_instance_score)
    idx = np.flatnonzero(ok)
    idx = idx[np.argsort(-inst_scores[idx], kind="stable")]
    if cfg.oks_threshold is not None and len(idx) > 1:
        oks = pairwise_oks(points[idx], cfg.oks_sigma)
        keep = []
        for a in range(len(idx)):
            if all(oks[a, b] <= cfg.oks_threshold for b in keep):
                keep.append(a)
        idx = idx[keep]
    if cfg.max_instances is not None:
        idx = idx[: int(cfg.max_instances)]
    return idx.astype(np.int64)
