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

__all__ = ["global_points", "local_points", "group_frames"]


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


def group_frames(b, c, xy, val, pafs, n_frames: int, n_nodes: int, edges, settings) -> list:
    """Group the local peaks of each frame of a batch into instances with the PAFs.

    Parameters
    ----------
    b, c, xy, val : outputs of :func:`local_points` (tensors or arrays)
    pafs : ndarray (B, 2E, H, W)
    settings : PredictorSettings
        ``paf_method``, ``paf_samples``, ``paf_threshold``, ``paf_min_fraction``.

    Returns
    -------
    list of (points (N, K, 2) map units, node_scores (N, K), instance_scores (N,)) per frame
    """
    from .paf import group_instances

    b, c, xy, val = (np.asarray(t.cpu().numpy() if hasattr(t, "cpu") else t) for t in (b, c, xy, val))
    out = []
    for i in range(n_frames):
        sel = b == i
        ci, xyi, vi = c[sel], xy[sel], val[sel]
        peaks = [xyi[ci == k] for k in range(n_nodes)]
        values = [vi[ci == k] for k in range(n_nodes)]
        out.append(group_instances(peaks, values, pafs[i], edges, method=settings.paf_method,
                                   n_samples=settings.paf_samples, threshold=settings.paf_threshold,
                                   min_fraction=settings.paf_min_fraction))
    return out
