"""Network outputs -> points: the one decoder shared by the predictors and by validation.

Training scores a model on its validation split with exactly the peak finding, offset
refinement and PAF grouping that inference uses, so the validation metrics describe what a
user will get from ``posetrack predict``.

All coordinates here are in *map* units (grid cells of the output, stride ``s``); multiply by
the stride for network-input pixels. Offset heads hold (dx, dy) in input pixels at each grid
cell (see :func:`napari_posetrack.nn.targets.offset_maps`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["resolve_sides", "global_points", "local_points", "group_frames"]


def global_points(cms, offsets, stride: int, threshold: float, refine: str = "quadratic"):
    """Best peak of every channel, refined by the offset head when there is one.

    Parameters
    ----------
    cms : Tensor (B, K, H, W)
    offsets : Tensor (B, 2K, H, W) or None
    stride : int
        Output stride (offsets are in input pixels).
    threshold : float
        Peaks with a lower value are NaN.
    refine : {"quadratic", "integral", "none"}
        Used only without offsets.

    Returns
    -------
    xy : Tensor (B, K, 2) map units, NaN below threshold
    value : Tensor (B, K)
    """
    import torch

    from .peaks import find_global_peaks

    xy, val = find_global_peaks(cms, threshold, "none" if offsets is not None else refine)
    if offsets is not None:
        b, k, h, w = cms.shape
        idx = cms.reshape(b, k, -1).argmax(-1)
        off = offsets.reshape(b, k, 2, h * w)
        d = torch.gather(off, 3, idx[:, :, None, None].expand(b, k, 2, 1))[..., 0]
        xy = xy + d.float() / stride
    return xy, val


def local_points(maps, offsets, stride: int, threshold: float, refine: str = "quadratic"):
    """Every local peak of every channel (NMS), refined by the offset head when there is one.

    Returns
    -------
    sample, channel : LongTensor (M,)
    xy : Tensor (M, 2) map units
    value : Tensor (M,)
    """
    import torch

    from .peaks import find_local_peaks

    b, c, xy, val = find_local_peaks(maps, threshold, "none" if offsets is not None else refine)
    if offsets is not None and len(b):
        _, _, h, w = maps.shape
        yi = xy[:, 1].round().long().clamp(0, h - 1)
        xi = xy[:, 0].round().long().clamp(0, w - 1)
        d = torch.stack([offsets[b, 2 * c, yi, xi], offsets[b, 2 * c + 1, yi, xi]], dim=1)
        xy = xy + d.float() / stride
    return b, c, xy, val


def body_axis_sides(data: dict) -> tuple[tuple, list]:
    """The body axis (anchor, heading) and left/right pairs a bottom-up model's ``config.data`` records
    (``side_axis``, ``pair_sides``; see :func:`~..autoconfig.body_sides`), or ``((), [])``."""
    axis = tuple(int(i) for i in data.get("side_axis", []) or [])
    if len(axis) != 2:
        return (), []
    return axis, [tuple(int(i) for i in p) for p in data.get("pair_sides", [])]


def group_frames(b, c, xy, val, pafs, n_frames: int, n_nodes: int, edges, settings, axis=(), sides=()) -> list:
    """Group the local peaks of each frame of a batch into instances with the PAFs.

    Parameters
    ----------
    b, c, xy, val : outputs of :func:`local_points` (tensors or arrays)
    pafs : ndarray (B, 2E, H, W)
    settings : PredictorSettings
        ``paf_method``, ``paf_samples``, ``paf_threshold``, ``paf_min_fraction``, ``paf_peak_weight``,
        ``pair_sides``.
    axis, sides : optional
        The body axis (anchor, heading) and the left/right pairs whose order across it the labels keep
        (``data.side_axis`` / ``data.pair_sides`` of a bottom-up model): see :func:`.paf.order_pair_sides`.

    Returns
    -------
    list of (points (N, K, 2) map units, node_scores (N, K), instance_scores (N,)) per frame
    """
    from .paf import group_instances, order_pair_sides

    b, c, xy, val = (np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t) for t in (b, c, xy, val))
    kw = dict(n_samples=settings.paf_samples, threshold=settings.paf_threshold,
              min_fraction=settings.paf_min_fraction, peak_weight=settings.paf_peak_weight)
    use_sides = bool(sides) and len(axis) == 2 and settings.pair_sides
    out = []
    for i in range(n_frames):
        sel = b == i
        ci, xyi, vi = c[sel], xy[sel], val[sel]
        peaks = [xyi[ci == k] for k in range(n_nodes)]
        values = [vi[ci == k] for k in range(n_nodes)]
        pts, node_scores, inst_scores = group_instances(peaks, values, pafs[i], edges, method=settings.paf_method,
                                                        **kw)
        if use_sides:
            pts, node_scores = order_pair_sides(pts, node_scores, peaks, values, pafs[i], edges, axis, sides, **kw)
        out.append((pts, node_scores, inst_scores))
    return out


def resolve_sides(cms, xy, val, sides, threshold: float, min_sep: float = 2.0):
    """Left/right node pairs of heading-aligned crops, given their sides in the training crops.

    The maps of two mirror-image nodes (wingL / wingR) often fire on both animals' parts: a model that saw
    the wings folded (both tips near the midline) puts both nodes on the same tip when the wings spread.
    For each pair ``(left, right)`` (the left node lies left of the right one in the training crops), when
    both nodes sit on one peak (closer than ``min_sep`` map cells) while the pair's maps show a second clear
    peak (at least half the first and above ``threshold``, ``min_sep`` away), the two peaks go to the two nodes
    by side. (Also swapping pairs found on the wrong sides was tried: no better on the fly benchmark, so
    nodes on two places are left alone.)

    ``cms`` (B, K, H, W), ``xy`` (B, K, 2) map units (NaN = not found), ``val`` (B, K). Returns new (xy, val).
    """
    import torch
    import torch.nn.functional as F

    if not sides or cms.shape[0] == 0:
        return xy, val
    xy, val = xy.clone(), val.clone()
    nb, _, h, w = cms.shape
    for a, b in sides:
        comb = torch.maximum(cms[:, a], cms[:, b]).float()
        peaks = (comb == F.max_pool2d(comb[:, None], 3, 1, 1)[:, 0]) & (comb >= threshold)
        top, idx = torch.where(peaks, comb, torch.zeros_like(comb)).reshape(nb, -1).topk(2, dim=1)
        py, px = (idx // w), (idx % w)
        pxy = torch.stack([_centroid3(comb, px, py, k) for k in (0, 1)], 1)  # (B, 2 peaks, 2)
        sep = (pxy[:, 0] - pxy[:, 1]).norm(dim=-1)
        two = (top[:, 1] >= threshold) & (top[:, 1] >= 0.5 * top[:, 0]) & (sep >= min_sep)
        pa, pb = xy[:, a], xy[:, b]
        found = torch.isfinite(pa).all(-1) & torch.isfinite(pb).all(-1)
        same = found & ((pa - pb).norm(dim=-1) < min_sep) & two
        if bool(same.any()):
            left = (pxy[:, 1, 0] < pxy[:, 0, 0]).long()  # which of the two peaks is on the left
            rows = same.nonzero(as_tuple=True)[0]
            li, ri = left[rows], 1 - left[rows]
            xy[rows, a], val[rows, a] = pxy[rows, li], top[rows, li].to(val.dtype)
            xy[rows, b], val[rows, b] = pxy[rows, ri], top[rows, ri].to(val.dtype)
    return xy, val


def _centroid3(m, px, py, k: int):
    """Sub-cell position of peak ``k`` of each map in ``m`` (B, H, W): the value-weighted mean of its 3x3
    neighbourhood. Returns (B, 2) map units."""
    import torch

    nb, h, w = m.shape
    x0, y0 = px[:, k], py[:, k]
    acc = torch.zeros((nb, 2), dtype=m.dtype, device=m.device)
    tot = torch.zeros(nb, dtype=m.dtype, device=m.device)
    rows = torch.arange(nb, device=m.device)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            x, y = (x0 + dx).clamp(0, w - 1), (y0 + dy).clamp(0, h - 1)
            v = m[rows, y, x].clamp_min(0)
            acc += v[:, None] * torch.stack([x, y], -1).to(m.dtype)
            tot += v
    return acc / tot.clamp_min(1e-12)[:, None]
