"""Heading-aligned ("egocentric") top-down crops: geometry shared by training and inference.

A crop is described by an affine map ``A`` (2 x 3) from crop-input pixels ``(u, v)`` (pixel
centres at integers, as everywhere in :mod:`napari_posetrack.nn.preprocess`) to frame pixels::

    p_frame = A[:, :2] @ (u, v) + A[:, 2]

``A[:, :2] = R(alpha) / (input_scale * zoom)`` (times a mirror for flipped training crops) and
the crop centre ``((n - 1) / 2, (n - 1) / 2)`` lands on the anchor. With alignment, ``alpha``
turns the animal's heading (anchor -> heading node, at frame angle ``phi``) to point up in the
crop: ``alpha = phi + pi / 2``. Without alignment ``alpha = 0`` and the crop is a plain window.

Crops are drawn straight from the frame with ``grid_sample`` (bilinear), so a rotated or zoomed
training crop has real image content in its corners, and the augmentation costs the crop's
pixels, not the frame's.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["HEADING_LOSS_WEIGHT", "node_index", "heading_angles", "crop_affine", "crop_input_side", "sample_crops",
           "points_to_crop", "points_from_crop", "heading_maps", "read_heading", "CropSampler"]

#: weight of the heading head's loss next to the centroid map loss
HEADING_LOSS_WEIGHT = 0.1


def node_index(name: str, node_names) -> int | None:
    """Index of a resolved node name ('' or an unresolved 'auto' -> None)."""
    if not name or name == "auto" or name not in list(node_names):
        return None
    return list(node_names).index(name)


def heading_angles(anchors, heads) -> np.ndarray:
    """Frame angle (radians, atan2 of dy, dx) of anchor -> heading node; NaN where unknown or degenerate."""
    d = np.asarray(heads, np.float64) - np.asarray(anchors, np.float64)
    ok = np.isfinite(d).all(-1) & (np.hypot(d[..., 0], d[..., 1]) > 1e-3)
    return np.where(ok, np.arctan2(d[..., 1], d[..., 0]), np.nan)


def crop_input_side(crop_size: int, scale: float, pad_to: int) -> int:
    """Side of the network input of a crop: ``crop_size * scale`` rounded up to a multiple of ``pad_to``."""
    n = max(1, int(round(crop_size * scale)))
    return int(math.ceil(n / pad_to) * pad_to)


def crop_affine(anchors, alpha, n: int, scale: float, zoom=None, mirror=None):
    """Affine maps (M, 2, 3) from crop-input pixels to frame pixels.

    Parameters
    ----------
    anchors : tensor (M, 2) frame px, where the crop centre lands
    alpha : tensor (M,) rotation of the crop axes in the frame (radians)
    n : int, crop input side
    scale : float, network input scale (crop-input px per frame px)
    zoom : tensor (M,), optional, extra magnification (augmentation)
    mirror : bool tensor (M,), optional, mirror the crop left/right (flip augmentation)
    """
    anchors = torch.as_tensor(anchors, dtype=torch.float32)
    alpha = torch.as_tensor(alpha, dtype=torch.float32, device=anchors.device)
    m = anchors.shape[0]
    k = torch.full((m,), 1.0 / float(scale), device=anchors.device)
    if zoom is not None:
        k = k / torch.as_tensor(zoom, dtype=torch.float32, device=anchors.device)
    c, s = torch.cos(alpha) * k, torch.sin(alpha) * k
    lin = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (M, 2, 2)
    if mirror is not None:
        sign = torch.where(torch.as_tensor(mirror, device=anchors.device), -1.0, 1.0)
        lin = lin * torch.stack([sign, torch.ones_like(sign)], -1)[:, None, :]
    centre = torch.full((m, 2, 1), (n - 1) / 2.0, device=anchors.device)
    t = anchors - (lin @ centre)[..., 0]
    return torch.cat([lin, t[..., None]], -1)


def points_from_crop(points, A):
    """Crop-input pixels (M, ..., 2) -> frame pixels with the crops' affine maps (M, 2, 3)."""
    shape = points.shape
    p = points.reshape(shape[0], -1, 2)
    out = torch.einsum("mij,mnj->mni", A[:, :, :2].to(p.dtype), p) + A[:, None, :, 2].to(p.dtype)
    return out.reshape(shape)


def points_to_crop(points, A):
    """Frame pixels (M, ..., 2) -> crop-input pixels (inverse of :func:`points_from_crop`)."""
    shape = points.shape
    p = points.reshape(shape[0], -1, 2)
    inv = torch.linalg.inv(A[:, :, :2].to(torch.float64)).to(p.dtype)
    out = torch.einsum("mij,mnj->mni", inv, p - A[:, None, :, 2].to(p.dtype))
    return out.reshape(shape)


def sample_crops(frames, frame_idx, A, n: int, frame_scale: float = 1.0):
    """Draw crops from frames with bilinear sampling (zeros outside the frame).

    Parameters
    ----------
    frames : tensor (F, C, H, W) float, or a list of (C, H, W) tensors (frames may differ in size)
    frame_idx : sequence (M,) of int, the frame of each crop
    A : tensor (M, 2, 3) crop-input px -> frame px (of the *unscaled* frame)
    n : int, crop side
    frame_scale : float
        The frames given were resized by this factor (pre-shrunk with antialiasing for a small
        input scale); the sampling positions are scaled to match.

    Returns
    -------
    tensor (M, C, n, n) float
    """
    fidx = [int(i) for i in (frame_idx.tolist() if hasattr(frame_idx, "tolist") else frame_idx)]
    m = len(fidx)
    first = frames[0]
    dev = first.device
    out = torch.zeros((m, first.shape[0], n, n), dtype=torch.float32, device=dev)
    if m == 0:
        return out
    u = torch.arange(n, dtype=torch.float32, device=dev)
    uv = torch.stack(torch.meshgrid(u, u, indexing="xy"), -1).reshape(-1, 2)  # (n*n, 2) as (u, v)
    A = A.to(dev, torch.float32)
    pos = torch.einsum("mij,pj->mpi", A[:, :, :2], uv) + A[:, None, :, 2]  # (M, n*n, 2) frame px
    if frame_scale != 1.0:
        pos = (pos + 0.5) * frame_scale - 0.5
    order = {}
    for j, f in enumerate(fidx):
        order.setdefault(f, []).append(j)
    for f, js in order.items():
        img = frames[f]
        img = img.float() if img.dtype != torch.float32 else img
        h, w = img.shape[-2:]
        g = pos[js]
        g = torch.stack([(2 * g[..., 0] + 1) / w - 1, (2 * g[..., 1] + 1) / h - 1], -1)
        g = g.reshape(1, len(js) * n, n, 2)
        s = F.grid_sample(img[None], g, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[js] = s[0].reshape(img.shape[0], len(js), n, n).permute(1, 0, 2, 3)
    return out


def heading_maps(anchors, heads, out_hw, stride: int, radius: float):
    """Targets of the centroid model's heading head.

    Every output cell within ``radius`` input px of an anchor holds the unit vector anchor ->
    heading node of the nearest such anchor. Instances without a heading carry no weight.

    Parameters
    ----------
    anchors, heads : tensor (B, N, 2) input px, NaN = missing

    Returns
    -------
    (vectors (B, 2, h, w), weight (B, 1, h, w))
    """
    b, n, _ = anchors.shape
    h, w = out_hw
    vec = anchors.new_zeros((b, 2, h, w))
    weight = anchors.new_zeros((b, 1, h, w))
    if n == 0:
        return vec, weight
    d = heads - anchors
    length = d.norm(dim=-1, keepdim=True)
    ok = torch.isfinite(d).all(-1) & (length[..., 0] > 1e-3)
    unit = torch.where(ok[..., None], d / length.clamp_min(1e-6), torch.zeros_like(d))
    xs = torch.arange(w, device=anchors.device, dtype=anchors.dtype) * stride
    ys = torch.arange(h, device=anchors.device, dtype=anchors.dtype) * stride
    a = torch.where(ok[..., None], anchors, torch.full_like(anchors, -1e6))
    d2 = (xs.view(1, 1, 1, w) - a[..., 0, None, None]) ** 2 + (ys.view(1, 1, h, 1) - a[..., 1, None, None]) ** 2
    nearest = d2.argmin(1)  # (B, h, w)
    dmin = d2.gather(1, nearest[:, None]).squeeze(1)
    inside = dmin <= radius ** 2
    u = torch.gather(unit, 1, nearest.reshape(b, -1, 1).expand(-1, -1, 2)).reshape(b, h, w, 2)
    vec = (u * inside[..., None]).permute(0, 3, 1, 2)
    weight = inside[:, None].to(anchors.dtype)
    return vec, weight


def read_heading(heading, b, xy_map):
    """Heading at anchor peaks from the heading head.

    Parameters
    ----------
    heading : tensor (B, 2, h, w)
    b : LongTensor (M,) sample of each peak
    xy_map : tensor (M, 2) peak positions in map units

    Returns
    -------
    phi : tensor (M,) frame angle (radians) of the heading
    confidence : tensor (M,) length of the mean predicted vector (about 1 when sure, 0 when unsure)
    """
    _, _, h, w = heading.shape
    if len(b) == 0:
        z = heading.new_zeros(0)
        return z, z
    xi = xy_map[:, 0].round().long()
    yi = xy_map[:, 1].round().long()
    acc = heading.new_zeros((len(b), 2))
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            y = (yi + dy).clamp(0, h - 1)
            x = (xi + dx).clamp(0, w - 1)
            acc += heading[b, :, y, x].float()
    acc /= 9.0
    return torch.atan2(acc[:, 1], acc[:, 0]), acc.norm(dim=1)


class CropSampler:
    """Centred-instance training crops drawn from the frames, aligned and augmented on the fly.

    Parameters
    ----------
    fs : FrameSet
    cfg : TrainingConfig (centered_instance)
    crop_size : int, crop side in frame px
    channels : int
    """

    def __init__(self, fs, cfg, crop_size: int, channels: int):
        from .data import anchor_points
        from .preprocess import frames_to_tensor, scale_images

        self.scale = float(cfg.preprocess.input_scale)
        self.n = crop_input_side(crop_size, self.scale, cfg.pad_to)
        self.crop_size = crop_size
        # shrink frames once (with antialiasing) when the crops are much smaller than the frame
        self.frame_scale = self.scale if self.scale < 0.75 else 1.0
        anchor = node_index(cfg.model.anchor_node, fs.node_names)
        heading = node_index(cfg.model.heading_node, fs.node_names)
        self.aligned = heading is not None
        frames, inst_frame, anchors, phis, points = [], [], [], [], []
        used = {}
        for i, (im, p) in enumerate(zip(fs.images, fs.points)):
            if len(p) == 0:
                continue
            a = anchor_points(p, anchor)
            ph = heading_angles(a, p[:, heading]) if heading is not None else np.full(len(p), np.nan)
            for j in range(len(p)):
                if not np.isfinite(a[j]).all():
                    continue
                if i not in used:
                    t = frames_to_tensor(im, channels=channels)
                    if self.frame_scale != 1.0:
                        t = scale_images(t, self.frame_scale)
                    used[i] = len(frames)
                    frames.append((t[0].clamp(0, 1) * 255).round().to(torch.uint8))
                inst_frame.append(used[i])
                anchors.append(a[j])
                phis.append(ph[j])
                points.append(p[j])
        self.frames = frames
        self.frame_of = np.asarray(inst_frame, np.int64)
        self.source_frame = np.asarray(sorted(used, key=used.get), np.int64)[self.frame_of] if used else \
            np.zeros(0, np.int64)
        self.anchors = torch.as_tensor(np.asarray(anchors, np.float32).reshape(-1, 2))
        self.phi = torch.as_tensor(np.asarray(phis, np.float32))
        self.points = torch.as_tensor(np.asarray(points, np.float32).reshape(len(anchors), -1, 2))
        self.n_unaligned = int((~torch.isfinite(self.phi)).sum()) if self.aligned else 0
        self.dark_animals = self._animals_darker()
        # median animal length and reach (anchor to farthest labeled node), in crop-input px
        pts = self.points.numpy()
        with warnings.catch_warnings():  # instances with no labeled node: NaN, handled below
            warnings.simplefilter("ignore", RuntimeWarning)
            ext = np.nanmax(pts, 1) - np.nanmin(pts, 1)
            reach = np.nanmax(np.hypot(*(pts - self.anchors.numpy()[:, None]).transpose(2, 0, 1)), 1)
        ok = np.isfinite(ext).all(-1)
        self.animal_len = float(np.median(ext[ok].max(-1))) * self.scale if ok.any() else self.n / 2
        self.reach = torch.as_tensor(np.nan_to_num(reach, nan=self.animal_len / self.scale / 2) * self.scale,
                                     dtype=torch.float32)

    def pair_sides(self, pairs, names=(), min_share: float = 0.9) -> tuple[list, str]:
        """Left/right node pairs that keep one side in the unaugmented aligned crops: ``[(left, right), ...]``
        for pairs where one node lies left of the other in at least ``min_share`` of the instances labeling
        both (see :func:`~.inference.decode.resolve_sides`), and a message."""
        if not self.aligned or not len(self):
            return [], ""
        idx = torch.arange(len(self))
        A = crop_affine(self.anchors, self.alpha(idx), self.n, self.scale)
        x = points_to_crop(self.points, A)[..., 0]
        out, shown = [], []
        for a, b in pairs:
            ok = torch.isfinite(x[:, a]) & torch.isfinite(x[:, b])
            if int(ok.sum()) < 5:
                continue
            share = float((x[ok, a] < x[ok, b]).float().mean())
            if share >= min_share or share <= 1 - min_share:
                left, right = (a, b) if share >= 0.5 else (b, a)
                out.append((int(left), int(right)))
                label = f"{names[left]}|{names[right]}" if len(names) > max(left, right) else f"{left}|{right}"
                shown.append(f"{label} {max(share, 1 - share):.0%}")
        return out, (f"{len(out)} left/right node pairs keep their side in the aligned training crops "
                     f"({', '.join(shown)}): at inference the two nodes of a pair do not share a peak when their "
                     "maps show two"
                     if out else "")

    def _animals_darker(self) -> bool:
        """Are the animals darker than the background? Decides how a pasted distractor is blended."""
        from .paste import animals_darker

        return animals_darker((self.frames[int(self.frame_of[j])], self.points[j] * self.frame_scale)
                              for j in range(len(self)))

    def _paste_distractors(self, imgs, idx, augment_cfg, generator):
        """Blend another animal's crop into a random share of ``imgs`` (see ``augment.distractors``)."""
        m = len(idx)
        pick = torch.rand(m, generator=generator) < augment_cfg.distractors
        if len(self) < 2 or not bool(pick.any()):
            return imgs
        rows = pick.nonzero(as_tuple=True)[0]
        other = torch.randint(0, len(self) - 1, (len(rows),), generator=generator)
        other = other + (other >= idx[rows]).long()  # never the centred instance itself
        A2, _ = self.transforms(other, augment_cfg, generator)
        dist = (0.35 + 0.4 * torch.rand(len(rows), generator=generator)) * self.animal_len
        ang = torch.rand(len(rows), generator=generator) * 2 * math.pi
        shift = torch.stack([dist * torch.cos(ang), dist * torch.sin(ang)], -1)
        A2[:, :, 2] = A2[:, :, 2] - torch.einsum("mij,mj->mi", A2[:, :, :2], shift)
        d = sample_crops(self.frames, self.frame_of[other.numpy()], A2, self.n, self.frame_scale) / 255.0
        c = (self.n - 1) / 2.0
        u = torch.arange(self.n, dtype=torch.float32)
        yy, xx = torch.meshgrid(u, u, indexing="ij")
        r = torch.hypot(xx[None] - c - shift[:, 0, None, None], yy[None] - c - shift[:, 1, None, None])
        inside = (r <= (self.reach[other] * 1.1 + 2.0)[:, None, None])[:, None]
        base = imgs[rows]
        if self.dark_animals:
            d = torch.where(d > 0, d, torch.ones_like(d))  # outside the frame: no effect
            blended = torch.minimum(base, d)
        else:
            blended = torch.maximum(base, d)
        imgs = imgs.clone()
        imgs[rows] = torch.where(inside, blended, base)
        return imgs

    def __len__(self) -> int:
        return int(self.anchors.shape[0])

    def alpha(self, idx) -> torch.Tensor:
        """Crop rotation of instances ``idx``: heading up when aligned (0 where the heading is unknown)."""
        if not self.aligned:
            return torch.zeros(len(idx))
        phi = self.phi[idx]
        return torch.where(torch.isfinite(phi), phi + math.pi / 2, torch.zeros_like(phi))

    def transforms(self, idx, augment_cfg=None, generator=None):
        """Affine maps (B, 2, 3) of instances ``idx`` and their mirror flags (B,) (augmented when a cfg is given)."""
        idx = torch.as_tensor(idx, dtype=torch.long)
        m = len(idx)
        alpha = self.alpha(idx)
        anchors = self.anchors[idx].clone()
        zoom = mirror = None
        if augment_cfg is not None and augment_cfg.enabled:
            def u(lo, hi):
                return lo + (hi - lo) * torch.rand(m, generator=generator)

            rot = augment_cfg.aligned_rotation if self.aligned else augment_cfg.rotation
            if self.aligned:  # instances without a heading keep full rotation
                rot = torch.where(torch.isfinite(self.phi[idx]), torch.tensor(float(rot)),
                                  torch.tensor(float(augment_cfg.rotation)))
            alpha = alpha + u(-1.0, 1.0) * torch.as_tensor(rot) * math.pi / 180.0
            zoom = u(augment_cfg.scale_min, augment_cfg.scale_max)
            # the anchor moves by up to `translate` of the crop: the centroid model is not exact
            shift = u(-augment_cfg.translate, augment_cfg.translate), u(-augment_cfg.translate, augment_cfg.translate)
            anchors = anchors + torch.stack(shift, -1) * self.crop_size * 0.5
            mirror = torch.rand(m, generator=generator) < augment_cfg.flip
        return crop_affine(anchors, alpha, self.n, self.scale, zoom, mirror), mirror

    def draw(self, idx, augment_cfg=None, generator=None, flip_perm=None, device="cpu"):
        """Crops of instances ``idx``.

        Returns
        -------
        images : tensor (B, C, n, n) float in [0, 1]
        points : tensor (B, 1, K, 2) crop-input px (NaN = not labeled)
        A : tensor (B, 2, 3) crop-input px -> frame px
        """
        idx = torch.as_tensor(idx, dtype=torch.long)
        A, mirror = self.transforms(idx, augment_cfg, generator)
        fidx = self.frame_of[idx.numpy()]
        imgs = sample_crops(self.frames, fidx, A, self.n, self.frame_scale) / 255.0
        if augment_cfg is not None and augment_cfg.enabled:
            from .augment import augment_intensity

            if augment_cfg.distractors > 0:
                imgs = self._paste_distractors(imgs, idx, augment_cfg, generator)
            imgs = augment_intensity(imgs, augment_cfg, generator)
        pts = points_to_crop(self.points[idx], A)
        if mirror is not None and flip_perm is not None and bool(mirror.any()):
            perm = torch.as_tensor(flip_perm)
            pts = torch.where(mirror.view(-1, 1, 1), pts[:, perm], pts)
        return imgs.to(device), pts[:, None].to(device), A.to(device)
