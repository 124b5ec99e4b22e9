"""Association costs between poses (vectorised numpy, registry).

Every cost function takes detections ``a`` (N, K, 2) and references ``b`` (M, K, 2) (x, y in
pixels, NaN where a node is missing) and returns a cost matrix (N, M) where **lower is
better** and ``inf`` means "cannot match". Register more with :func:`register_cost`.

=============  =====================================================================
name           cost
=============  =====================================================================
``oks``        ``1 - OKS`` (object keypoint similarity over the nodes present in both)
``centroid``   distance between centroids in pixels
``iou``        ``1 - IoU`` of the bounding boxes of the present nodes
=============  =====================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..registry import Registry

__all__ = ["COSTS", "register_cost", "get_cost", "oks", "oks_cost", "centroid_cost", "iou_cost",
           "centroids", "bboxes", "pose_scale"]

COSTS: Registry = Registry("tracking cost")  # name -> cost function; a taken name is refused


def register_cost(name: str):
    """Decorator adding a cost function to :data:`COSTS` under ``name``."""

    def deco(fn):
        COSTS[name] = fn
        return fn

    return deco


def get_cost(name: str) -> Callable[..., np.ndarray]:
    from ..errors import ConfigError

    try:
        return COSTS[name]
    except KeyError:
        raise ConfigError(f"Unknown tracking cost {name!r}.", hint=f"Use one of {sorted(COSTS)}.") from None


def centroids(points: np.ndarray) -> np.ndarray:
    """(N, 2) mean of the finite nodes of ``points`` (N, K, 2); NaN when none."""
    fin = ~np.isnan(points)
    n = fin.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(fin, points, 0).sum(1) / n


def bboxes(points: np.ndarray) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 of the finite nodes of ``points`` (N, K, 2) (NaN when none)."""
    # fmin/fmax skip NaN without the warnings (and the cost) of nanmin/nanmax
    return np.concatenate([np.fmin.reduce(points, axis=1), np.fmax.reduce(points, axis=1)], axis=1)


def pose_scale(points: np.ndarray, minimum: float = 16.0) -> np.ndarray:
    """(N,) object scale: ``sqrt`` of the bounding-box area, at least ``minimum`` pixels."""
    bb = bboxes(points)
    area = (bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])
    s = np.sqrt(np.where(np.isfinite(area), area, 0.0))
    return np.maximum(s, minimum)


def _oks_parts(a, b, kappa):
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    d2 = ((a[:, None] - b[None]) ** 2).sum(-1)  # (N, M, K), NaN where a node is missing
    valid = ~np.isnan(d2)
    s = pose_scale(b)  # (M,)
    e = np.exp(-np.where(valid, d2, 0.0) / (2.0 * (s[None, :, None] * kappa) ** 2))
    fa = ~np.isnan(a[:, None, :, 0])
    fb = ~np.isnan(b[None, :, :, 0])
    union = (fa | fb).sum(-1)
    n = valid.sum(-1)
    # divide by the nodes present in either pose, so a partial pose cannot look perfect
    sim = np.where(valid, e, 0.0).sum(-1) / np.maximum(union, 1)
    return sim, n


def oks(a: np.ndarray, b: np.ndarray, *, kappa: float = 0.1, min_common: int = 1) -> np.ndarray:
    """Object keypoint similarity (N, M) between ``a`` (N, K, 2) and ``b`` (M, K, 2).

    ``OKS = sum_k exp(-d_k^2 / (2 s^2 kappa^2)) / n`` summed over the nodes present in both
    poses and divided by the number ``n`` of nodes present in either (a partial pose cannot
    score 1 against a full one), with ``s`` the scale (sqrt of the bounding-box area) of
    ``b``. Pairs sharing fewer than ``min_common`` nodes get 0.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    sim, n = _oks_parts(a, b, kappa)
    return np.where(n >= min_common, sim, 0.0).astype(np.float32)


@register_cost("oks")
def oks_cost(a, b, *, kappa: float = 0.1, **_) -> np.ndarray:
    """``1 - OKS``; pairs with no common node cost ``inf``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    sim, n = _oks_parts(a, b, kappa)
    return np.where(n > 0, 1.0 - sim, np.inf)


@register_cost("centroid")
def centroid_cost(a, b, **_) -> np.ndarray:
    """Euclidean distance (pixels) between centroids; ``inf`` where one has no node."""
    ca, cb = centroids(np.asarray(a, np.float64)), centroids(np.asarray(b, np.float64))
    d = np.sqrt(((ca[:, None] - cb[None]) ** 2).sum(-1))
    return np.where(np.isfinite(d), d, np.inf)


@register_cost("iou")
def iou_cost(a, b, **_) -> np.ndarray:
    """``1 - IoU`` of the node bounding boxes; ``inf`` where one has no node."""
    ba, bb = bboxes(np.asarray(a, np.float64)), bboxes(np.asarray(b, np.float64))
    x0 = np.maximum(ba[:, None, 0], bb[None, :, 0])
    y0 = np.maximum(ba[:, None, 1], bb[None, :, 1])
    x1 = np.minimum(ba[:, None, 2], bb[None, :, 2])
    y1 = np.minimum(ba[:, None, 3], bb[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (ba[:, 2] - ba[:, 0]) * (ba[:, 3] - ba[:, 1])
    area_b = (bb[:, 2] - bb[:, 0]) * (bb[:, 3] - bb[:, 1])
    union = area_a[:, None] + area_b[None] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.where(np.isfinite(union), 1.0 - iou, np.inf)
