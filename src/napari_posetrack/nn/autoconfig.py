"""Training settings left at ``auto`` in the config, picked from the labeled data.

Each choice is written into the config (so the model directory records it) and explained in one
message that the trainer shows before the first step ("input scale 0.5 (auto: ...)").
"""

from __future__ import annotations

from .batches import Samples, build_samples
from .data import FrameSet

__all__ = ["resolve_auto"]


def resolve_auto(frames: FrameSet, train_fs: FrameSet, cfg) -> tuple[Samples, list[str]]:
    """Fill the config's ``auto`` settings from the data (input scale, output stride, flip, crop size, training
    windows, normalisation) and build the training samples. Returns (samples, one message per choice)."""
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
    if cfg.augment.enabled and cfg.augment.flip > 0 and not cfg.skeleton.get("symmetries"):
        # a mirrored frame would keep its left/right labels and teach the model mirrored nodes
        cfg.augment.flip = 0.0
        auto_msgs.append("flip augmentation off: the skeleton has no left/right node pairs (none declared, none "
                         "recognised in the node names). Declare them in the Skeleton dock to use it.")
    if cfg.model.type == "centered_instance" and not cfg.model.crop_size:
        from .batches import auto_crop_size

        cfg.model.crop_size = auto_crop_size(frames, cfg)
    train_s = build_samples(train_fs, cfg)
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
