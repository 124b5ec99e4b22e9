"""Turn a :class:`~napari_posetrack.nn.data.FrameSet` into tensors for one model type.

Registry :data:`SAMPLE_BUILDERS`: model type -> ``fn(frameset, cfg, crop_size) -> Samples``.
Full-frame models (single, centroid, bottom-up) get every frame scaled by
``preprocess.input_scale`` and padded (bottom/right) to a common size that is a multiple of
the pad size; centred-instance models get one crop per instance around its anchor.
Images are kept as uint8 (memory); batches are converted to float on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.errors import ConfigError
from .data import FrameSet, anchor_points
from .preprocess import frames_to_tensor, scale_images, scale_points

__all__ = ["Samples", "SAMPLE_BUILDERS", "build_samples", "auto_crop_size"]


@dataclass
class Samples:
    """Model-ready examples.

    images : uint8 tensor (M, C, H, W); points : float (M, N, K, 2) in input px (NaN = none);
    anchors : float (M, N, 2); origins : float (M, 2) crop origin in original px (unused, kept None);
    frame : (M,) index into the FrameSet; messages : notes for the log.
    transforms : float (M, 2, 3) crop-input px -> frame px (crops only; see :mod:`.align`);
    sampler : :class:`~.align.CropSampler` drawing augmented crops (crops only);
    headings : float (M, N, 2) heading-node positions in input px (full frames with a heading node).
    classes : long (M,) identity class of each crop, -1 = none (multi-class top-down; see :mod:`.identity`);
        for multi-class bottom-up, uint8 (M, N, C) one-hot class of each instance (see :mod:`.identity_bottomup`).
    paster : :class:`~.paste.AnimalPaster` adding a close animal to whole-frame batches (``augment.crowd``).
    """

    images: torch.Tensor
    points: torch.Tensor
    anchors: torch.Tensor
    frame: np.ndarray
    origins: torch.Tensor | None = None
    messages: list = field(default_factory=list)
    transforms: torch.Tensor | None = None
    sampler: object = None
    headings: torch.Tensor | None = None
    classes: torch.Tensor | None = None
    paster: object = None

    def __len__(self) -> int:
        return int(self.images.shape[0])


def _anchor_index(cfg, node_names) -> int | None:
    from .align import node_index

    return node_index(cfg.model.anchor_node, node_names)


def _to_uint8(t: torch.Tensor) -> torch.Tensor:
    return (t.clamp(0, 1) * 255).round().to(torch.uint8)


def _pad_points(pts_list, k) -> np.ndarray:
    n_max = max([len(p) for p in pts_list] + [1])
    out = np.full((len(pts_list), n_max, k, 2), np.nan, np.float32)
    for i, p in enumerate(pts_list):
        out[i, : len(p)] = p
    return out


def build_full_frame(fs: FrameSet, cfg, crop_size: int = 0) -> Samples:
    scale = float(cfg.preprocess.input_scale)
    channels = int(cfg.preprocess.channels or cfg.data.get("channels") or fs.channels)
    pad_to = cfg.pad_to
    ims = [_to_uint8(scale_images(frames_to_tensor(im, channels=channels), scale))[0] for im in fs.images]
    sizes = {tuple(im.shape[-2:]) for im in ims}
    h = int(math.ceil(max(s[0] for s in sizes) / pad_to) * pad_to) if ims else 0
    w = int(math.ceil(max(s[1] for s in sizes) / pad_to) * pad_to) if ims else 0
    msgs = []
    if len({im.shape[:2] for im in fs.images}) > 1:
        shapes = sorted({im.shape[:2] for im in fs.images})
        msgs.append(f"Frames have mixed sizes {shapes[:4]}; each is padded (bottom/right) to {h}x{w} "
                    "after scaling.")
    images = torch.zeros((len(ims), channels, h, w), dtype=torch.uint8)
    for i, im in enumerate(ims):
        images[i, :, : im.shape[1], : im.shape[2]] = im
    k = len(fs.node_names)
    pts = _pad_points(fs.points, k)
    anchor = _anchor_index(cfg, fs.node_names)
    anchors = np.stack([anchor_points(p, anchor) for p in pts]) if len(pts) else np.zeros((0, 1, 2), np.float32)
    headings = None
    if cfg.model.type == "centroid":
        from .align import node_index

        hi = node_index(cfg.model.heading_node, fs.node_names)
        if hi is not None:
            headings = torch.from_numpy(scale_points(pts[:, :, hi], scale)).float()
    return Samples(images, torch.from_numpy(scale_points(pts, scale)).float(),
                   torch.from_numpy(scale_points(anchors, scale)).float(), np.arange(len(fs)), None, msgs,
                   headings=headings)


#: the crop holds this percentile of the labeled instances entirely: a few outliers (a leg
#: stretched out, a mislabeled point) must not double the crop, and with it the cost per step
CROP_PERCENTILE = 98.0


def raw_crop_size(fs: FrameSet, cfg) -> float:
    """Side (original px) of a square around each anchor that holds the labeled nodes of
    :data:`CROP_PERCENTILE` % of the instances, plus a margin.

    With a heading node the square is measured in the heading-aligned frame of each instance.
    """
    from .align import heading_angles, node_index

    anchor = _anchor_index(cfg, fs.node_names)
    heading = node_index(cfg.model.heading_node, fs.node_names) if cfg.model.type == "centered_instance" else None
    extents = []
    for p in fs.points:
        if len(p) == 0:
            continue
        a = anchor_points(p, anchor)
        d = p - a[:, None, :]
        if heading is not None:
            phi = heading_angles(a, p[:, heading])
            alpha = np.where(np.isfinite(phi), phi + np.pi / 2, 0.0)
            c, s = np.cos(alpha)[:, None], np.sin(alpha)[:, None]
            d = np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], -1)
        d = np.abs(d).reshape(len(d), -1)
        ok = np.isfinite(d).any(1)
        extents.extend(np.nanmax(d[ok], axis=1).tolist())
    extent = float(np.percentile(extents, CROP_PERCENTILE)) if extents else 0.0
    return 2 * extent * 1.1 + 16


#: auto input scale, per model type: (largest network-input side wanted, smallest animal size
#: wanted, in px of the scaled input). Centroids need only a coarse view; whole-frame part
#: models need animals big enough to separate nodes. Crops are kept small (about 100 px): on
#: a CPU budget, twice the steps on half-resolution crops learned more than full-resolution
#: crops (three_flies, 6 CPU-min: PCK@5px 0.59 at 96 px input against 0.45 at 192 px). The
#: centroid model only finds each animal and its heading (the crop model then re-centres it):
#: at 1/8 (128 px, 12 px flies) it took 4x the steps of 1/4 in the same time, and its anchors
#: were better after 6 CPU-min (5.5 px median error, 3.0 peaks for 3 flies, against 20 px, 2.6).
#: per model type: (largest network-input side, smallest median animal in input px). The centroid's 10 px: at 12,
#: flies of 95 px (two_flies frames 32-127) crossed it and got scale 1/4, 4x the work per step of their 97 px
#: neighbours' 1/8, and a 6-minute centroid stage then made 14 epochs instead of 47 (docs/identity.md)
AUTO_SCALE_RULES = {"centroid": (128, 10), "single": (512, 32), "bottomup": (512, 32), "centered_instance": (128, 32)}


def animal_size(fs: FrameSet) -> float:
    """Median over labeled instances of the larger side of the instance's bounding box (original px)."""
    sizes = []
    for p in fs.points:
        for inst in np.asarray(p, np.float64).reshape(-1, len(fs.node_names), 2):
            ok = np.isfinite(inst).all(-1)
            if ok.sum() >= 2:
                sizes.append(float((inst[ok].max(0) - inst[ok].min(0)).max()))
    return float(np.median(sizes)) if sizes else 0.0


def _scale_basis(fs: FrameSet, cfg) -> tuple[str, float, float]:
    """What the auto input scale looks at: (what the network sees, its side, median animal size)."""
    if cfg.model.type == "centered_instance":
        what, side = "crops", float(cfg.model.crop_size or raw_crop_size(fs, cfg))
    else:
        what, side = "frames", float(max(max(im.shape[:2]) for im in fs.images)) if len(fs.images) else 0.0
    return what, side, animal_size(fs)


def auto_input_scale(fs: FrameSet, cfg, *, explain: bool = False):
    """Input scale picked from the data: 1, 1/2, 1/4 or 1/8.

    The largest of these that brings the network input (whole frame, or the top-down crop)
    to at most the model type's side limit; then doubled while the median animal would be
    smaller than the type's minimum size (never above 1). Small frames keep scale 1.
    With ``explain``, returns ``(scale, a sentence saying what it was chosen from)``.
    """
    side_limit, min_animal = AUTO_SCALE_RULES.get(cfg.model.type, (512, 32))
    what, side, size = _scale_basis(fs, cfg)
    scale = 1.0
    while side * scale > side_limit and scale > 0.125:
        scale /= 2
    while size and size * scale < min_animal and scale < 1.0:
        scale *= 2
    if explain:
        return scale, f"{what} up to {side:.0f} px, median animal {size:.0f} px"
    return scale


#: full-frame models train on windows of this many median animals (side), when that saves work
PATCH_ANIMALS = 2.0


def auto_patch_size(fs: FrameSet, cfg, input_hw) -> tuple[int, str]:
    """Training window side (network-input px) for full-frame models, and why; -1 = whole frames.

    About :data:`PATCH_ANIMALS` median animals across, rounded up to the pad size (at least 4
    pad units); whole frames when the window would cover half of the frame or more (no saving),
    for centroid models (they already see the whole frame at a coarse scale) and crops.
    """
    h, w = (int(v) for v in input_hw)
    if cfg.model.type not in ("single", "bottomup") or not h or not w:
        return -1, "whole frames"
    unit = cfg.pad_to
    size = animal_size(fs) * float(cfg.preprocess.input_scale) * PATCH_ANIMALS
    side = int(max(4 * unit, math.ceil(size / unit) * unit))
    if not size or side * side * 2 > h * w:
        return -1, f"whole frames ({w}x{h} px input; a window of two animals would not be much smaller)"
    return side, (f"{side} px windows of the {w}x{h} px input (auto: about {PATCH_ANIMALS:g} median animals "
                  f"across; {h * w / side ** 2:.1f}x less work per step)")


def auto_crop_size(fs: FrameSet, cfg) -> int:
    """Crop side (original px) holding every labeled instance around its anchor, plus a margin.

    Rounded up so the scaled crop is a multiple of the pad size; capped at the largest frame side.
    """
    size = raw_crop_size(fs, cfg)
    unit = cfg.pad_to / float(cfg.preprocess.input_scale)
    size = int(math.ceil(size / unit) * unit)
    largest = max(max(im.shape[:2]) for im in fs.images)
    return int(min(size, int(math.floor(largest / unit) * unit) or largest))


def build_crops(fs: FrameSet, cfg, crop_size: int = 0) -> Samples:
    """One crop per labeled instance, centred on its anchor and, with a heading node, rotated heading-up.

    The samples hold the un-augmented crops (validation) and a :class:`~.align.CropSampler` that
    draws augmented crops from the frames during training.
    """
    from .align import CropSampler

    channels = int(cfg.preprocess.channels or cfg.data.get("channels") or fs.channels)
    size = int(crop_size or cfg.model.crop_size or auto_crop_size(fs, cfg))
    largest = max(max(im.shape[:2]) for im in fs.images)
    if size > largest:
        raise ConfigError(
            f"The top-down crop size {size} px is larger than the frames (largest side {largest} px).",
            hint=f"Set model.crop_size to at most {largest} (or 0 to pick it from the data).")
    sampler = CropSampler(fs, cfg, size, channels)
    if len(sampler) == 0:
        raise ConfigError("No labeled instance to crop for the centered-instance model.",
                          hint="Label at least one instance with a visible point.")
    images, points, A = sampler.draw(torch.arange(len(sampler)))
    msgs = [f"crop size {size} px"]
    if sampler.aligned:
        msgs.append(f"crops aligned: {cfg.model.anchor_node} -> {cfg.model.heading_node} points up")
        if sampler.n_unaligned:
            msgs.append(f"warning: {sampler.n_unaligned} of {len(sampler)} instances have no visible heading node "
                        f"{cfg.model.heading_node!r} (or it sits on the anchor); their crops are not aligned")
    anchors = torch.full((len(sampler), 1, 2), (sampler.n - 1) / 2.0)
    return Samples(_to_uint8(images), points, anchors, sampler.source_frame, None, msgs, transforms=A,
                   sampler=sampler)


#: model type -> builder
SAMPLE_BUILDERS = {"single": build_full_frame, "centroid": build_full_frame, "bottomup": build_full_frame,
                   "centered_instance": build_crops}


def build_samples(fs: FrameSet, cfg, crop_size: int = 0) -> Samples:
    samples = SAMPLE_BUILDERS[cfg.model.type](fs, cfg, crop_size)
    if cfg.model.type == "centered_instance" and cfg.data.get("identity_classes"):
        from .identity import crop_classes

        samples.classes = crop_classes(fs, cfg)
    elif cfg.model.type == "bottomup" and cfg.data.get("identity_classes"):
        from .identity_bottomup import frame_classes

        samples.classes = frame_classes(fs, samples.points.shape[1], len(cfg.data["identity_classes"]))
    return samples
