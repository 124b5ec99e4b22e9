"""Augmentation on torch tensors (runs on the training device, CPU or GPU).

One random affine per sample (rotation, zoom, translation, optional left/right flip that
swaps symmetric nodes) applied to images with ``grid_sample`` and to points exactly, then
brightness, contrast and Gaussian noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["random_affine", "apply_affine", "augment_batch", "augment_intensity", "cut_patches"]


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

    return augment_intensity(images, cfg, generator), points, anchors


def augment_intensity(images, cfg, generator=None):
    """Random contrast, brightness and Gaussian noise per image (``cfg``: AugmentConfig), clamped to [0, 1]."""
    b = images.shape[0]
    dev = images.device

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
    return images.clamp_(0, 1)


def cut_patches(images, points, size: int, generator=None, *, on_animal: float = 0.8, extra=()):
    """Random ``size`` x ``size`` windows of a batch of whole frames (training on patches).

    With probability ``on_animal`` a window is centred near a random labeled instance (its
    labeled nodes' mean, moved by up to a quarter of the window); otherwise, or when a frame
    has no labeled instance, anywhere, so the model also sees background. Windows lie inside
    the frame when it is at least ``size`` wide (else the rest is zero).

    Parameters
    ----------
    images : tensor (B, C, H, W); points : tensor (B, N, K, 2) in input px, NaN = unlabeled
    extra : tensors (B, N, 2) or (B, N, K, 2) moved like the points (anchors, heading nodes)

    Returns
    -------
    images (B, C, size, size), points, and the moved ``extra`` tensors, all in window px.
    """
    b, c, h, w = images.shape
    out = images.new_zeros((b, c, size, size))
    shift = torch.zeros((b, 2), dtype=points.dtype, device=points.device)
    u = torch.rand((b, 4), generator=generator)
    for i in range(b):
        labeled = torch.isfinite(points[i]).all(-1)  # (N, K)
        have = labeled.any(-1).nonzero().flatten().tolist()
        if have and float(u[i, 0]) < on_animal:
            j = have[int(float(u[i, 1]) * len(have)) % len(have)]
            centre = points[i, j][labeled[j]].mean(0).cpu() + (u[i, 2:] - 0.5) * (size / 2.0)
        else:
            centre = u[i, 2:] * torch.tensor([float(w), float(h)])
        x0 = int(round(float(centre[0]) - size / 2.0))
        y0 = int(round(float(centre[1]) - size / 2.0))
        x0 = min(max(x0, min(0, w - size)), max(0, w - size))
        y0 = min(max(y0, min(0, h - size)), max(0, h - size))
        sx, sy = max(x0, 0), max(y0, 0)
        ex, ey = min(x0 + size, w), min(y0 + size, h)
        out[i, :, sy - y0:ey - y0, sx - x0:ex - x0] = images[i, :, sy:ey, sx:ex]
        shift[i, 0], shift[i, 1] = x0, y0

    def move(t):
        if t is None:
            return None
        return t - shift.to(t.device, t.dtype).view(b, *([1] * (t.dim() - 2)), 2)

    return (out, move(points), *[move(t) for t in extra])
