"""Peak finding on confidence maps: max-pool NMS above a threshold, subpixel refinement.

All functions take confidence maps as a torch tensor ``(B, C, H, W)`` (any device, any float
dtype) and return coordinates in *map pixel units* (x, y), where map pixel ``(i, j)`` has its
centre at ``(j, i)``. Converting map units to image pixels (output stride, input scale, crop
offsets) is the predictor's job.

Refinement
----------
``"quadratic"``
    Fits a parabola through the log of the peak and its two neighbours along x and along y.
    For a Gaussian blob this is exact (the log of a Gaussian is a parabola), so peaks of
    rendered Gaussian confidence maps are recovered to floating-point precision.
``"integral"``
    Centre of mass of the values in a ``(2r+1) x (2r+1)`` patch around the peak (integral
    regression). Robust to noisy maps, slightly biased towards the integer peak when the
    patch truncates the blob.
``None`` / ``"none"``
    Integer peak positions.
"""

from __future__ import annotations

__all__ = ["find_local_peaks", "find_global_peaks", "refine_peaks", "REFINE_METHODS"]

REFINE_METHODS = ("quadratic", "integral", "none")


def _check_refine(refine):
    refine = "none" if refine is None else str(refine).lower()
    if refine not in REFINE_METHODS:
        from ...core.errors import ConfigError

        raise ConfigError(
            f"Unknown peak refinement {refine!r}; expected one of {REFINE_METHODS}.",
            hint="Use 'quadratic' (exact for Gaussian maps), 'integral' or 'none'.",
        )
    return refine


def refine_peaks(cms, b, c, y, x, refine="quadratic", radius: int = 2):
    """Subpixel (x, y) of integer peaks.

    Parameters
    ----------
    cms : Tensor (B, C, H, W)
    b, c, y, x : LongTensor (M,)
        Sample, channel, row and column of each integer peak.
    refine : {"quadratic", "integral", "none"}
    radius : int
        Patch radius for ``"integral"``.

    Returns
    -------
    Tensor (M, 2) float32
        (x, y) in map pixel units.
    """
    import torch

    refine = _check_refine(refine)
    xy = torch.stack([x, y], dim=1).to(torch.float32)
    if refine == "none" or x.numel() == 0:
        return xy
    _, _, h, w = cms.shape
    if refine == "quadratic":
        eps = 1e-6
        xm = (x - 1).clamp(min=0)
        xp = (x + 1).clamp(max=w - 1)
        ym = (y - 1).clamp(min=0)
        yp = (y + 1).clamp(max=h - 1)
        f0 = cms[b, c, y, x].float().clamp(min=eps).log()
        fxm = cms[b, c, y, xm].float().clamp(min=eps).log()
        fxp = cms[b, c, y, xp].float().clamp(min=eps).log()
        fym = cms[b, c, ym, x].float().clamp(min=eps).log()
        fyp = cms[b, c, yp, x].float().clamp(min=eps).log()
        dx_den = fxm - 2 * f0 + fxp
        dy_den = fym - 2 * f0 + fyp
        dx = torch.where(dx_den < -1e-9, 0.5 * (fxm - fxp) / dx_den.clamp(max=-1e-9), torch.zeros_like(f0))
        dy = torch.where(dy_den < -1e-9, 0.5 * (fym - fyp) / dy_den.clamp(max=-1e-9), torch.zeros_like(f0))
        # at the border (a neighbour is the peak itself) the fit is meaningless: keep the integer
        dx = torch.where((x == 0) | (x == w - 1), torch.zeros_like(dx), dx).clamp(-0.5, 0.5)
        dy = torch.where((y == 0) | (y == h - 1), torch.zeros_like(dy), dy).clamp(-0.5, 0.5)
        return xy + torch.stack([dx, dy], dim=1)
    # integral: centre of mass in a patch
    r = int(radius)
    offs = torch.arange(-r, r + 1, device=cms.device)
    oy, ox = torch.meshgrid(offs, offs, indexing="ij")
    oy, ox = oy.reshape(-1), ox.reshape(-1)
    py = y[:, None] + oy[None]
    px = x[:, None] + ox[None]
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    vals = cms[b[:, None], c[:, None], py.clamp(0, h - 1), px.clamp(0, w - 1)].float()
    vals = torch.where(inside, vals.clamp(min=0), torch.zeros_like(vals))
    total = vals.sum(1).clamp(min=1e-12)
    dx = (vals * ox[None].float()).sum(1) / total
    dy = (vals * oy[None].float()).sum(1) / total
    return xy + torch.stack([dx, dy], dim=1)


def find_local_peaks(cms, threshold: float = 0.2, refine="quadratic", kernel: int = 3):
    """All local maxima above ``threshold`` (max-pool non-maximum suppression).

    Parameters
    ----------
    cms : Tensor (B, C, H, W)
        Confidence maps.
    threshold : float
        Minimum peak value.
    refine : {"quadratic", "integral", "none"}
    kernel : int
        NMS window (odd).

    Returns
    -------
    sample : LongTensor (M,)
        Batch index of each peak.
    channel : LongTensor (M,)
        Node (channel) of each peak.
    xy : Tensor (M, 2) float32
        Refined (x, y) in map pixel units.
    value : Tensor (M,) float32
        Map value at the integer peak.
    """
    import torch
    import torch.nn.functional as F

    if cms.ndim != 4:
        raise ValueError(f"Expected confidence maps (B, C, H, W), got shape {tuple(cms.shape)}")
    pooled = F.max_pool2d(cms, kernel_size=kernel, stride=1, padding=kernel // 2)
    mask = (cms >= pooled) & (cms > threshold)
    # plateaus: of equal maxima within one window keep only the first in raster order
    h, w = cms.shape[-2:]
    idx = torch.arange(h * w, device=cms.device, dtype=torch.float32).reshape(1, 1, h, w)
    neg = torch.where(mask, -idx, torch.full_like(idx, -float("inf")))
    first = F.max_pool2d(neg, kernel_size=kernel, stride=1, padding=kernel // 2)
    mask = mask & (neg == first)
    b, c, y, x = mask.nonzero(as_tuple=True)
    value = cms[b, c, y, x].float()
    xy = refine_peaks(cms, b, c, y, x, refine)
    return b, c, xy, value


def find_global_peaks(cms, threshold: float = 0.2, refine="quadratic"):
    """The single highest peak of each channel (single-instance and centred-instance models).

    Parameters
    ----------
    cms : Tensor (B, C, H, W)
    threshold : float
        Peaks with a lower value are returned as NaN.
    refine : {"quadratic", "integral", "none"}

    Returns
    -------
    xy : Tensor (B, C, 2) float32
        (x, y) in map pixel units, NaN below threshold.
    value : Tensor (B, C) float32
    """
    import torch

    bsz, n_ch, h, w = cms.shape
    flat = cms.reshape(bsz, n_ch, h * w)
    value, idx = flat.max(dim=2)
    y = torch.div(idx, w, rounding_mode="floor").reshape(-1)
    x = (idx % w).reshape(-1)
    b = torch.arange(bsz, device=cms.device).repeat_interleave(n_ch)
    c = torch.arange(n_ch, device=cms.device).repeat(bsz)
    xy = refine_peaks(cms, b, c, y, x, refine).reshape(bsz, n_ch, 2)
    value = value.float()
    xy = torch.where((value > threshold)[..., None], xy, torch.full_like(xy, float("nan")))
    return xy, value
