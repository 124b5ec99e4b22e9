"""Training targets on torch tensors (GPU-able), batched.

Points are (B, N, K, 2) x, y in pixels of the (scaled, augmented) network input, NaN where
a node is not labeled. Output grids are at stride ``s``: grid point ``(r, c)`` sits at input
pixel ``(c * s, r * s)`` (see :mod:`napari_posetrack.nn.preprocess`).

Registry :data:`TARGETS` maps a head name to ``fn(points, cfg_ctx) -> (B, n, h, w)``.
"""

from __future__ import annotations

import torch

__all__ = ["make_grid", "confmaps", "pafs", "centroid_maps", "offset_maps", "TARGETS", "make_targets"]


def make_grid(h: int, w: int, stride: int, device=None, dtype=torch.float32):
    """Grid coordinates: xs (w,), ys (h,) in input pixels."""
    xs = torch.arange(w, device=device, dtype=dtype) * stride
    ys = torch.arange(h, device=device, dtype=dtype) * stride
    return xs, ys


def confmaps(points, out_hw, stride: int, sigma: float):
    """Gaussian confidence maps, max over instances.

    Parameters
    ----------
    points : tensor (B, N, K, 2), NaN = not labeled
    out_hw : (h, w) output size

    Returns
    -------
    tensor (B, K, h, w) in [0, 1]
    """
    b, n, k, _ = points.shape
    h, w = out_hw
    xs, ys = make_grid(h, w, stride, points.device, points.dtype)
    if n == 0:
        return points.new_zeros((b, k, h, w))
    valid = torch.isfinite(points).all(-1)
    p = torch.where(valid[..., None], points, torch.full_like(points, -1e6))
    gx = torch.exp(-((xs.view(1, 1, 1, w) - p[..., 0:1]) ** 2) / (2 * sigma ** 2))  # (B,N,K,w)
    gy = torch.exp(-((ys.view(1, 1, 1, h) - p[..., 1:2]) ** 2) / (2 * sigma ** 2))  # (B,N,K,h)
    cm = gy[..., :, None] * gx[..., None, :]  # (B,N,K,h,w)
    return cm.amax(dim=1)


def centroid_maps(anchors, out_hw, stride: int, sigma: float):
    """Gaussian map of instance anchors. ``anchors`` (B, N, 2) -> (B, 1, h, w)."""
    return confmaps(anchors[:, :, None, :], out_hw, stride, sigma)


def pafs(points, edges, out_hw, stride: int, width: float):
    """Part affinity fields: unit vectors along each edge within ``width`` px of the segment.

    Returns (B, 2E, h, w) with channels ``[e0_x, e0_y, e1_x, e1_y, ...]``, averaged where
    instances overlap.
    """
    b, n, k, _ = points.shape
    h, w = out_hw
    e = len(edges)
    out = points.new_zeros((b, 2 * e, h, w))
    if n == 0 or e == 0:
        return out
    xs, ys = make_grid(h, w, stride, points.device, points.dtype)
    gx = xs.view(1, 1, 1, w).expand(1, 1, h, w)
    gy = ys.view(1, 1, h, 1).expand(1, 1, h, w)
    src = points[:, :, [a for a, _ in edges]]  # (B,N,E,2)
    dst = points[:, :, [c for _, c in edges]]
    valid = torch.isfinite(src).all(-1) & torch.isfinite(dst).all(-1)
    vec = dst - src
    length = vec.norm(dim=-1).clamp_min(1e-6)
    unit = vec / length[..., None]
    valid &= length > 1e-3
    src = torch.nan_to_num(src, nan=-1e6)
    unit = torch.nan_to_num(unit, nan=0.0)
    length = torch.nan_to_num(length, nan=0.0)
    dx = gx[None] - src[..., 0, None, None]  # (B,N,E,h,w)
    dy = gy[None] - src[..., 1, None, None]
    along = dx * unit[..., 0, None, None] + dy * unit[..., 1, None, None]
    across = (dx * unit[..., 1, None, None] - dy * unit[..., 0, None, None]).abs()
    mask = (along >= -width) & (along <= length[..., None, None] + width) & (across <= width)
    mask &= valid[..., None, None]
    m = mask.to(points.dtype)
    count = m.sum(1).clamp_min(1.0)  # (B,E,h,w)
    vx = (m * unit[..., 0, None, None]).sum(1) / count
    vy = (m * unit[..., 1, None, None]).sum(1) / count
    out[:, 0::2] = vx
    out[:, 1::2] = vy
    return out


def offset_maps(points, out_hw, stride: int, sigma: float):
    """Sub-pixel offsets from each grid point to the nearest instance's node, in input px.

    Returns (offsets (B, 2K, h, w) as ``[k0_dx, k0_dy, ...]``, weight (B, K, h, w) = 1 within
    ``2 * sigma`` of a labeled node).
    """
    b, n, k, _ = points.shape
    h, w = out_hw
    xs, ys = make_grid(h, w, stride, points.device, points.dtype)
    if n == 0:
        return points.new_zeros((b, 2 * k, h, w)), points.new_zeros((b, k, h, w))
    p = torch.nan_to_num(points, nan=-1e6)
    dx = p[..., 0, None, None] - xs.view(1, 1, 1, 1, w)  # (B,N,K,1,w)
    dy = p[..., 1, None, None] - ys.view(1, 1, 1, h, 1)  # (B,N,K,h,1)
    d2 = dx ** 2 + dy ** 2  # (B,N,K,h,w)
    nearest = d2.argmin(dim=1, keepdim=True)
    dxn = torch.gather(dx.expand_as(d2), 1, nearest).squeeze(1)
    dyn = torch.gather(dy.expand_as(d2), 1, nearest).squeeze(1)
    d2n = torch.gather(d2, 1, nearest).squeeze(1)
    weight = (d2n <= (2 * sigma) ** 2).to(points.dtype)
    off = torch.stack([dxn, dyn], dim=2).reshape(b, 2 * k, h, w) * weight.repeat_interleave(2, dim=1)
    return off, weight


def _confmap_target(batch, ctx):
    return confmaps(batch["points"], ctx["out_hw"], ctx["stride"], ctx["sigma"])


def _centroid_target(batch, ctx):
    return centroid_maps(batch["anchors"], ctx["out_hw"], ctx["stride"], ctx["sigma"])


def _paf_target(batch, ctx):
    return pafs(batch["points"], ctx["edges"], ctx["out_hw"], ctx["stride"], ctx["paf_width"])


def _offset_target(batch, ctx):
    pts = batch["anchors"][:, :, None, :] if ctx["model_type"] == "centroid" else batch["points"]
    return offset_maps(pts, ctx["out_hw"], ctx["stride"], ctx["sigma"])


def _heading_target(batch, ctx):
    from .align import heading_maps

    radius = max(2.0 * ctx["sigma"], 1.5 * ctx["stride"])
    return heading_maps(batch["anchors"], batch["headings"], ctx["out_hw"], ctx["stride"], radius)


def _classmap_target(batch, ctx):
    from .identity_bottomup import classmap_target

    return classmap_target(batch, ctx)


def _identity_target(batch, ctx):
    from .identity import identity_target

    return identity_target(batch, ctx)


#: head name -> target builder ``fn(batch, ctx)``
TARGETS = {"confmaps": _confmap_target, "centroids": _centroid_target, "pafs": _paf_target,
           "offsets": _offset_target, "heading": _heading_target, "identity": _identity_target,
           "classmaps": _classmap_target}


def make_targets(heads, batch: dict, ctx: dict) -> dict:
    """Targets for every head name in ``heads``; ``offsets`` and ``heading`` give (maps, weight) pairs."""
    return {h: TARGETS[h](batch, ctx) for h in heads}
