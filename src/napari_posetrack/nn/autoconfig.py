"""Training settings left at ``auto`` in the config, picked from the labeled data.

Each choice is written into the config (so the model directory records it) and explained in one
message that the trainer shows before the first step ("input scale 0.5 (auto: ...)").
"""

from __future__ import annotations

import numpy as np

from .batches import Samples, animal_size, build_samples
from .data import FrameSet, anchor_points

__all__ = ["resolve_auto", "auto_sigma", "auto_batch_and_rate", "ema_for_norm", "body_sides", "DEFAULT_SIGMA"]

#: confidence-map sigma (input px) of every model but centroids: the value the benchmarks were tuned with
DEFAULT_SIGMA = 2.5
#: centroid peaks of two animals this many sigmas apart stay two peaks (two Gaussians merge into one
#: below about 2 sigmas; a network's maps are blurrier than the targets)
SIGMAS_APART = 4.0


def closest_spacing(fs: FrameSet, anchor: int | None) -> tuple[float, str]:
    """How close two animals' anchors can come (original px), and where that figure comes from: half the
    median animal size (two animals side by side), or the 5th percentile of the labeled frames' nearest-anchor
    distances when that is smaller."""
    half = 0.5 * animal_size(fs)
    near = []
    for p in fs.points:
        a = anchor_points(np.asarray(p, np.float64), anchor) if len(p) > 1 else np.zeros((0, 2))
        a = a[np.isfinite(a).all(-1)]
        if len(a) > 1:
            d = np.hypot(*(a[:, None] - a[None]).transpose(2, 0, 1))
            np.fill_diagonal(d, np.inf)
            near.extend(d.min(1).tolist())
    labeled = float(np.percentile(near, 5)) if near else np.inf
    if labeled < half:
        return labeled, f"closest labeled animals {labeled:.0f} px apart (5th percentile)"
    return half, f"animals side by side, half the median animal ({half:.0f} px) apart"


def auto_sigma(fs: FrameSet, cfg) -> tuple[float, str]:
    """Sigma for ``cfg``'s model type (input px, after the input scale and output stride are resolved).

    Centroid maps: the spacing of two animals side by side (:func:`closest_spacing`), scaled to the input,
    over :data:`SIGMAS_APART`, between 0.75 x the output stride (finer peaks fall between output cells) and
    :data:`DEFAULT_SIGMA`. In the fly benchmark the 2.5 px default at 1/8 scale merged flies closer than about
    60 px into one peak (27 of 384 test flies missed); one 1.5 px centroid missed 6, another 32 (the training
    flies are never that close, so it varies between runs). Other models: :data:`DEFAULT_SIGMA`.
    """
    if cfg.model.type != "centroid":
        return DEFAULT_SIGMA, f"the default for {cfg.model.type} models"
    from .batches import _anchor_index

    spacing, why = closest_spacing(fs, _anchor_index(cfg, fs.node_names))
    if not np.isfinite(spacing) or spacing <= 0:
        return DEFAULT_SIGMA, "no animal sizes in the labels"
    lo = 0.75 * float(cfg.model.output_stride or cfg.model.stride)
    raw = spacing * float(cfg.preprocess.input_scale) / SIGMAS_APART
    sigma = float(np.clip(round(raw * 4) / 4, lo, max(lo, DEFAULT_SIGMA)))
    return sigma, (f"two centroid peaks {SIGMAS_APART:g} sigmas apart for {why}, at input scale "
                   f"{cfg.preprocess.input_scale:g}; kept within {lo:g}-{max(lo, DEFAULT_SIGMA):g}")


def resolve_auto(frames: FrameSet, train_fs: FrameSet, cfg) -> tuple[Samples, list[str]]:
    """Fill the config's ``auto`` settings from the data (input scale, output stride, sigma, flip, crop size,
    training windows, normalisation), record the left/right pair sides of aligned crops (``data.pair_sides``)
    or, for bottom-up models, of the animals' body axis (``data.side_axis`` and ``data.pair_sides``, see
    :func:`body_sides`) and build the training samples. Returns (samples, one message per choice)."""
    auto_msgs = []
    if not cfg.preprocess.input_scale:
        from .batches import auto_input_scale

        cfg.preprocess.input_scale, why = auto_input_scale(frames, cfg, explain=True)
        auto_msgs.append(f"input scale {cfg.preprocess.input_scale:g} (auto: {why}; "
                         "set preprocess.input_scale to choose)")
    if not cfg.model.output_stride:
        cfg.model.output_stride = cfg.model.stride
        auto_msgs.append(f"output stride {cfg.model.output_stride} (auto for {cfg.model.type} models; set "
                         "model.output_stride to choose)")
    if not cfg.model.sigma:
        cfg.model.sigma, why = auto_sigma(frames, cfg)
        auto_msgs.append(f"sigma {cfg.model.sigma:g} px (auto: {why}; set model.sigma to choose)")
    if cfg.augment.enabled and cfg.augment.flip > 0 and not cfg.skeleton.get("symmetries"):
        # a mirrored frame would keep its left/right labels and teach the model mirrored nodes
        cfg.augment.flip = 0.0
        auto_msgs.append("flip augmentation off: the skeleton has no left/right node pairs (none declared, none "
                         "recognised in the node names). Declare them in the Skeleton dock to use it.")
    if cfg.model.type == "centered_instance" and not cfg.model.crop_size:
        from .batches import auto_crop_size

        cfg.model.crop_size = auto_crop_size(frames, cfg)
    train_s = build_samples(train_fs, cfg)
    if train_s.sampler is not None and getattr(train_s.sampler, "aligned", False):
        sides, msg = train_s.sampler.pair_sides(cfg.skeleton.get("symmetries") or [],
                                                cfg.skeleton.get("node_names", []))
        cfg.data["pair_sides"] = [list(p) for p in sides]
        if msg:
            auto_msgs.append(msg)
    if cfg.model.type == "bottomup":
        axis, sides, msg = body_sides(train_fs, cfg.skeleton)
        if sides:
            cfg.data["side_axis"], cfg.data["pair_sides"] = list(axis), [list(p) for p in sides]
        if msg:
            auto_msgs.append(msg)
    _attach_paster(train_s, cfg, auto_msgs)
    if cfg.model.type not in ("single", "bottomup"):
        cfg.augment.patch_size = -1  # crops are windows already; centroid models see a coarse whole frame
    elif cfg.augment.patch_size == 0:
        from .batches import auto_patch_size

        cfg.augment.patch_size, why = auto_patch_size(frames, cfg, tuple(train_s.images.shape[-2:]))
        auto_msgs.append(f"training on {why}; set augment.patch_size to choose (-1 = whole frames)")
    if cfg.model.backbone.norm == "auto":
        windows = cfg.augment.patch_size > 0 and cfg.augment.enabled
        cfg.model.backbone.norm = "batch" if windows else "group"
        auto_msgs.append(f"{cfg.model.backbone.norm} norm (auto: " + (
            "trained on windows, predicting on whole frames" if windows else "the fastest learner in short runs") +
            "; set model.backbone.norm to choose)")
    return train_s, auto_msgs


def _attach_paster(train_s: Samples, cfg, msgs: list) -> None:
    """Crowding augmentation (``augment.crowd``) for whole-frame multi-animal models without identity classes."""
    from .paste import PASTE_MODEL_TYPES, AnimalPaster

    if not (cfg.augment.enabled and cfg.augment.crowd > 0 and cfg.model.type in PASTE_MODEL_TYPES) or \
            train_s.classes is not None or train_s.sampler is not None:
        return
    paster = AnimalPaster(train_s)
    if not paster.usable:
        return
    train_s.paster = paster
    msgs.append(f"crowding: {cfg.augment.crowd:.0%} of the training frames get one more labeled animal, pasted "
                f"{paster.near[0]:g}-{paster.near[1]:g} animal lengths ({paster.animal_len:.0f} input px) from "
                f"another, so that touching animals are told apart (set augment.crowd to 0 to turn it off)")


#: batch size on a CPU: each sample costs its full time there, and more, smaller steps learned more in a
#: fixed budget (fly crops, same CPU time: PCK@5px 0.728 at batch 4 against 0.663 at batch 8)
CPU_BATCH = 4
#: batch size on a GPU, where a bigger batch costs little more time per step than a small one
GPU_BATCH = 16
#: peak Adam learning rates at batch 4: normalised backbones learn faster with the larger step (crop stage
#: PCK@5px 0.590 at 1e-3, 0.648 at 3e-3, 0.728 at 5e-3); a plain UNet diverges there
BASE_RATE = {"group": 5e-3, "batch": 5e-3, "none": 1e-3}


def auto_batch_and_rate(cfg, n_train: int, device_type: str, world_size: int = 1) -> list[str]:
    """Fill ``train.batch_size`` and ``train.learning_rate`` when they are 0 (auto). Returns the messages.

    Batch: :data:`CPU_BATCH` on a CPU, :data:`GPU_BATCH` on CUDA/MPS, but never more than an eighth of the
    training samples (at least 1), so that an epoch has several steps. Learning rate: :data:`BASE_RATE` for the
    backbone's normalisation at batch 4, times sqrt(batch / 4) (Adam's usual scaling), at most 1e-2, where the
    batch is the global one: ``train.batch_size`` is per process, and ``world_size`` data-parallel processes
    average their gradients over ``world_size`` times as many samples.
    """
    msgs = []
    tc = cfg.train
    if not tc.batch_size:
        want, why = (CPU_BATCH, "on a CPU more, smaller steps learn more in a time budget") if device_type == "cpu" \
            else (GPU_BATCH, f"on {device_type} a bigger batch costs little more per step")
        cap = max(1, int(n_train) // 8)
        tc.batch_size = int(max(1, min(want, cap)))
        why += f"; {n_train} training samples" + (f", so at most {cap} (an eighth)" if cap < want else "")
        msgs.append(f"batch {tc.batch_size} (auto: {why}; set train.batch_size to choose)")
    if not tc.learning_rate:
        norm = cfg.model.backbone.norm if cfg.model.backbone.norm in BASE_RATE else "group"
        base = BASE_RATE[norm]
        total = tc.batch_size * max(1, int(world_size))
        tc.learning_rate = float(min(1e-2, base * (total / 4.0) ** 0.5))
        shown = f"batch {tc.batch_size}" if total == tc.batch_size else \
            f"global batch {total} = {tc.batch_size} x {world_size} processes"
        msgs.append(f"learning rate {tc.learning_rate:.2g} (auto: {base:g} for a backbone with {norm} norm at batch 4, "
                    f"times sqrt({shown} / 4); set train.learning_rate to choose)")
    return msgs


def ema_for_norm(cfg) -> list[str]:
    """Turn the weight average (``train.ema``) off for a batch-norm backbone. Returns the messages.

    Batch norm's running statistics describe the activations of the raw weights; put beside averaged weights
    they no longer match, and on the few-shot mouse case (single-instance, windows, batch norm) a keypoint
    then jumped to the frame corner on 4 of 76 test frames (mean error 9.8 px, against 2.1 px without the
    average). Group norm has no running statistics, so centroid and centred-instance models keep it; single and
    bottom-up models trained on windows get batch norm by default, and so no average.
    """
    if cfg.train.ema > 0 and cfg.model.backbone.norm == "batch":
        cfg.train.ema = 0.0
        return ["weight average off (batch norm: its running statistics belong to the raw weights, not to an "
                "average of them)"]
    return []


def body_sides(frames: FrameSet, skeleton: dict, min_share: float = 0.9) -> tuple[tuple, list, str]:
    """Left/right node pairs that keep their order across the body axis in the labels, for bottom-up grouping.

    The axis is the skeleton's anchor -> heading pair (named in the skeleton, or proposed from the node names:
    thorax -> head, ...). A pair ``(a, b)`` of the skeleton's symmetries is kept when one node lies on the same
    side of the other, measured across the axis, in at least ``min_share`` of the labeled animals with all four
    nodes (5 at least); it is returned as ``(left, right)`` in that order. Returns ``((anchor, heading) node
    indices, pairs, message)``; no axis or no pair gives ``((), [], "")``.
    """
    from ..core.skeleton import Skeleton
    from .inference.paf import lateral

    names = list(skeleton.get("node_names", []))
    pairs = skeleton.get("symmetries") or []
    if not names or not pairs:
        return (), [], ""
    anchor, heading, _ = Skeleton.from_dict({"node_names": names, "anchor": skeleton.get("anchor"),
                                             "heading": skeleton.get("heading")}).alignment()
    if not anchor or not heading or anchor not in names or heading not in names:
        return (), [], ""
    ai, hi = names.index(anchor), names.index(heading)
    pts = [p for p in frames.points if len(p)]
    if not pts:
        return (), [], ""
    pts = np.concatenate(pts).astype(np.float64)
    out, shown = [], []
    for a, b in pairs:
        a, b = int(a), int(b)
        la, lb = lateral(pts[:, ai], pts[:, hi], pts[:, a]), lateral(pts[:, ai], pts[:, hi], pts[:, b])
        ok = np.isfinite(la) & np.isfinite(lb) & (la != lb)
        if int(ok.sum()) < 5:
            continue
        share = float((la[ok] < lb[ok]).mean())
        if max(share, 1 - share) >= min_share:
            left, right = (a, b) if share >= 0.5 else (b, a)
            out.append((left, right))
            shown.append(f"{names[left]}|{names[right]} {max(share, 1 - share):.0%}")
    if not out:
        return (), [], ""
    return (ai, hi), out, (f"{len(out)} left/right node pairs keep their order across the {anchor} -> {heading} "
                           f"axis in the labels ({', '.join(shown)}): grouping gives each node of a pair the "
                           "peak on its side")
