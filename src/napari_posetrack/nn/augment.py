"""Augmentation on torch tensors (runs on the training device, CPU or GPU).

One random affine per sample (rotation, zoom, translation, optional left/right flip that
swaps symmetric nodes) applied to images with ``grid_sample`` and to points exactly, then
brightness, contrast and Gaussian noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_affine", "apply_affine", "augment_batch"]


def random_affine(n: int, cfg, hw, generator=None, device="cpu"):
    """Random forward transforms in centred pixel coordinates.

    Returns
    -------
    M : tensor (n, 2, 2) linear part (rotation * zoom * flip)
    t : tensor (n, 2) translation in pixels
    flip : tensor (n,) bool
    """
    h, w = hw

    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(n, generator=generator).to(device)

    theta = u(-cfg.rotation, cfg.rotation) * math.pi / 180.0
    zoom = u(cfg.scale_min, cfg.scale_max)
    tx = u(-cfg.translate, cfg.translate) * w
    ty = u(-cfg.translate, cfg.translate) * h
    flip = (torch.rand(n, generator=generator) < cfg.flip).to(device)
    c, s = torch.cos(theta), torch.sin(theta)
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2) * zoom[:, None, None]
    fl = torch.ones(n, 2, device=device)
    fl[:, 0] = torch.where(flip, -1.0, 1.0)
    M = rot * fl[:, None, :]  # rot @ diag(fl)
    return M, torch.stack([tx, ty], -1), flip


def apply_affine(images, points, M, t, flip=None, flip_perm=None):
    """Warp images (B, C, H, W) and points (B, N, K, 2) by ``p' = M (p - c) + c + t``.

    ``c`` is the image centre ``((W-1)/2, (H-1)/2)``. Flipped samples have their node axis
    permuted by ``flip_perm``. NaN points stay NaN.
    """
    b, _, h, w = images.shape
    dtype = images.dtype
    M = M.to(images.device, torch.float32)
    t = t.to(images.device, torch.float32)
    Minv = torch.linalg.inv(M)
    D = torch.tensor([2.0 / w, 2.0 / h], device=images.device)
    lin = D[None, :, None] * Minv / D[None, None, :]
    trans = -(D[None, :] * (Minv @ t[..., None]).squeeze(-1))
    theta = torch.cat([lin, trans[..., None]], -1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False).to(dtype)
    if points is not None:
        c = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], device=points.device, dtype=points.dtype)
        q = points - c
        q = torch.einsum("bij,bnkj->bnki", M.to(points.dtype), q) + t.to(points.dtype)[:, None, None, :] + c
        if flip is not None and flip_perm is not None and bool(flip.any()):
            perm = torch.as_tensor(flip_perm, device=points.device)
            q = torch.where(flip.view(-1, 1, 1, 1).to(points.device), q[:, :, perm], q)
        points = q
    return out, points


def augment_batch(images, points, cfg, *, anchors=None, flip_perm=None, generator=None):
    """Augment a batch.

    Parameters
    ----------
    images : tensor (B, C, H, W) float in [0, 1]
    points : tensor (B, N, K, 2) or None
    anchors : tensor (B, N, 2) or None, moved like points (not permuted)
    cfg : AugmentConfig

    Returns
    -------
    images, points, anchors (same shapes)
    """
    if not cfg.enabled:
        return images, points, anchors
    b, _, h, w = images.shape
    dev = images.device
    M, t, flip = random_affine(b, cfg, (h, w), generator=generator, device=dev)
    pts = points
    if anchors is not None:
        pts = anchors[:, :, None, :] if points is None else torch.cat([points, anchors[:, :, None, :]], 2)
        perm = None if flip_perm is None else list(flip_perm) + [len(flip_perm)]
    else:
        perm = flip_perm
    images, pts = apply_affine(images, pts, M, t, flip, perm)
    if anchors is not None:
        anchors = pts[:, :, -1, :]
        points = None if points is None else pts[:, :, :-1, :]
    else:
        points = pts

    def u(amount):
        return ((torch.rand(b, 1, 1, 1, generator=generator) * 2 - 1) * amount).to(dev)

    if cfg.contrast > 0:
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) * (1 + u(cfg.contrast)) + mean
    if cfg.brightness > 0:
        images = images + u(cfg.brightness)
    if cfg.noise > 0:
        noise = torch.randn(images.shape, generator=generator).to(dev) * cfg.noise
        images = images + noise
    return images.clamp_(0, 1), points, anchors
