"""Preprocessing shared by training and inference: channels, scale, pad, to tensor.

Coordinate convention: points are (x, y) in pixels with pixel centres at integer
coordinates (pixel ``(row 0, col 0)`` is centred on ``(0, 0)``), as in SLEAP. Resizing by
``scale`` with bilinear interpolation (``align_corners=False``) maps a point ``x`` to
``(x + 0.5) * scale - 0.5`` (:func:`scale_points`), and back with :func:`unscale_points`.
Padding adds zeros at the bottom/right only, so coordinates do not move.

A network output at stride ``s`` has its grid point ``(r, c)`` at input pixel
``(x, y) = (c * s, r * s)`` (:func:`grid_to_input`).

Typical inference use::

    x = frames_to_tensor(frames, channels=cfg.preprocess.channels or frames.shape[-1])   # (B,C,H,W)
    x = scale_images(x, cfg.preprocess.input_scale)
    x, _ = pad_to_multiple(x, cfg.pad_to)
    out = model(x)
    # peaks found at input coordinates p -> unscale_points(p, cfg.preprocess.input_scale)
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "frames_to_tensor",
    "convert_channels",
    "scale_images",
    "pad_to_multiple",
    "scale_points",
    "unscale_points",
    "grid_to_input",
    "preprocess_frames",
    "crop_images",
]


def convert_channels(x, channels: int):
    """(B, C, H, W) -> (B, channels, H, W): colour to grey by mean, grey to colour by repeat."""
    c = x.shape[1]
    if channels in (0, c):
        return x
    if channels == 1:
        return x.mean(dim=1, keepdim=True)
    if c == 1 and channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    raise ValueError(f"cannot convert {c} channels to {channels}")


def frames_to_tensor(frames, *, channels: int = 0, device="cpu"):
    """uint8 frames (B, H, W, C) or (H, W, C) or (B, H, W) -> float tensor (B, C', H, W) in [0, 1]."""
    import torch

    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None, ..., None]
    elif arr.ndim == 3:
        arr = arr[None] if arr.shape[-1] in (1, 3, 4) else arr[..., None]
    if arr.shape[-1] == 4:
        arr = arr[..., :3]
    arr = np.ascontiguousarray(arr)
    if not arr.flags.writeable:
        arr = arr.copy()
    t = torch.from_numpy(arr).to(device)
    t = t.permute(0, 3, 1, 2).float()
    if arr.dtype == np.uint8:
        t = t / 255.0
    return convert_channels(t, channels)


def scale_images(x, scale: float):
    """Resize (B, C, H, W) by ``scale`` (bilinear, ``align_corners=False``); no-op at 1."""
    import torch.nn.functional as F

    if scale == 1.0:
        return x
    h, w = x.shape[-2:]
    size = (max(1, int(round(h * scale))), max(1, int(round(w * scale))))
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=scale < 1.0)


def pad_to_multiple(x, multiple: int):
    """Zero-pad (B, C, H, W) at the bottom/right to a multiple of ``multiple``.

    Returns
    -------
    x : tensor (B, C, H', W')
    pad : tuple (pad_h, pad_w)
    """
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    m = max(1, int(multiple))
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, (ph, pw)


def scale_points(points, scale: float):
    """Original pixel coordinates (..., 2) -> coordinates in an image resized by ``scale``."""
    if scale == 1.0:
        return points
    return (points + 0.5) * scale - 0.5


def unscale_points(points, scale: float):
    """Inverse of :func:`scale_points`."""
    if scale == 1.0:
        return points
    return (points + 0.5) / scale - 0.5


def grid_to_input(rc, stride: int):
    """Grid indices (..., 2) as (col, row) -> input pixel (x, y): ``index * stride``."""
    return rc * stride


def preprocess_frames(frames, config, device="cpu"):
    """Frames (B, H, W, C) uint8 -> model input (B, C, H', W') per ``config`` (a TrainingConfig).

    Applies channels, ``preprocess.input_scale`` and padding to ``config.pad_to``.
    """
    ch = int(config.preprocess.channels or config.data.get("channels", 0) or 0)
    x = frames_to_tensor(frames, channels=ch, device=device)
    x = scale_images(x, float(config.preprocess.input_scale))
    x, _ = pad_to_multiple(x, config.pad_to)
    return x


def crop_images(images, centers, size: int):
    """Crop square windows (size x size) centred on ``centers`` (N, 2) x,y from (B, C, H, W).

    ``images`` has one image per centre (B == N). Pixels outside the image are zero. The crop's
    pixel ``(0, 0)`` is at ``center - size // 2`` (rounded to integer pixels), returned as
    ``offsets`` (N, 2) x, y so that ``crop_xy + offsets = image_xy``.
    """
    import torch
    import torch.nn.functional as F

    n, c, h, w = images.shape
    centers = torch.as_tensor(centers, dtype=torch.float32)
    origin = torch.round(centers - size // 2).long()
    pad = size
    padded = F.pad(images, (pad, pad, pad, pad))
    out = images.new_zeros((n, c, size, size))
    for i in range(n):
        x0 = int(origin[i, 0]) + pad
        y0 = int(origin[i, 1]) + pad
        x0 = min(max(x0, 0), w + 2 * pad - size)
        y0 = min(max(y0, 0), h + 2 * pad - size)
        out[i] = padded[i, :, y0:y0 + size, x0:x0 + size]
        origin[i, 0] = x0 - pad
        origin[i, 1] = y0 - pad
    return out, origin.float()
