"""Supervised identity models: class heads, their targets and losses, and the training pipelines.

A multi-class top-down model (``posetrack train INPUT --model topdown-id``) is the ordinary
top-down pair (centroid + centred-instance) whose centred-instance network has one more
head, ``identity`` (:class:`IdentityHead`): strided 3x3 convolutions on the backbone's
output features and on the crop image, global average pooling and a linear layer, giving
one logit per class for the crop. It is trained jointly with the confidence maps, with cross-entropy against the
class of the crop's instance.

The classes are the track names of the labels (:func:`napari_posetrack.core.identity.identity_classes`);
they are written into the centred-instance ``config.yaml`` as ``data.identity_classes``,
which is what makes :func:`napari_posetrack.nn.model.head_names` add the head.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.identity import identity_classes
from ..core.progress import ProgressEvent

__all__ = ["IDENTITY_LOSS_WEIGHT", "IdentityHead", "class_names", "crop_classes", "identity_target", "identity_loss",
           "identity_logits", "relabel_by_class", "iter_topdown_id", "crop_identity_accuracy"]

#: weight of the identity cross-entropy next to the confidence-map loss
IDENTITY_LOSS_WEIGHT = 0.1


class IdentityHead(nn.Module):
    """Class logits of a crop: ``forward(features (B, F, h, w), image (B, C, H, W)) -> (B, C_id, 1, 1)``.

    Two branches, each a few strided 3x3 convolutions with ReLU, average-pooled over the crop:
    one on the backbone's output features, one on the crop image itself; a linear layer
    classifies the two pooled vectors. The image branch matters: the backbone's output
    features are shaped by the confidence-map loss into "where are the nodes" maps, and on
    them alone the identity loss did not move from chance in joint training (tested on
    animals that differ only in size and brightness), while the image branch learns them.
    """

    takes_image = True

    def __init__(self, feature_channels: int, n_classes: int, image_channels: int = 1, width: int = 32):
        super().__init__()

        def branch(c_in, n_convs):
            layers, c = [], c_in
            for _ in range(n_convs):
                layers += [nn.Conv2d(c, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
                c = width
            return nn.Sequential(*layers)

        self.from_features = branch(feature_channels, 2)
        self.from_image = branch(image_channels, 3)
        self.classify = nn.Linear(2 * width, n_classes)

    def forward(self, feats, image):
        pooled = torch.cat([self.from_features(feats).mean(dim=(2, 3)), self.from_image(image).mean(dim=(2, 3))], 1)
        return self.classify(pooled)[:, :, None, None]


def class_names(cfg) -> list:
    """Identity classes of a config (``data.identity_classes``); empty for a model without identity."""
    data = cfg.data if hasattr(cfg, "data") else (cfg or {}).get("data", {})
    return [str(c) for c in (data or {}).get("identity_classes") or []]


def relabel_by_class(dataset, spec):
    """A copy of ``dataset`` whose label ``track_id`` is the class index and whose tracks are the classes."""
    from ..core.dataset import PoseDataset

    labels = dataset.labels.with_columns(track_id=spec.labels.astype(np.int32))
    return PoseDataset(dataset.skeleton, dataset.videos, list(spec.class_names), labels,
                       negative_frames=dataset.negative_frames)


def crop_classes(fs, cfg) -> torch.Tensor:
    """Class of each top-down training crop (LongTensor (M,), -1 = unnamed), in the order of
    :class:`~napari_posetrack.nn.align.CropSampler` (frames in order, instances with an anchor).

    ``fs.labels.track_id`` must hold class indices (see :func:`relabel_by_class`).
    """
    from .align import node_index
    from .data import anchor_points

    lab = fs.labels
    rows_of = {(int(v), int(f)): rows for v, f, rows in lab.frame_groups()} if lab is not None else {}
    anchor = node_index(cfg.model.anchor_node, fs.node_names)
    out = []
    for key, p in zip(fs.keys, fs.points):
        if len(p) == 0:
            continue
        rows = rows_of.get((int(key[0]), int(key[1])))
        cls = lab.track_id[rows] if rows is not None else np.full(len(p), -1)
        a = anchor_points(p, anchor)
        out.extend(int(cls[j]) for j in range(len(p)) if np.isfinite(a[j]).all())
    return torch.as_tensor(out, dtype=torch.long)


def identity_target(batch, ctx):
    """Target of the ``identity`` head: the class index of each crop (B,), -1 = ignore."""
    return batch["classes"]


def identity_logits(out: torch.Tensor) -> torch.Tensor:
    """Class logits (B, C) from the ``identity`` head's output (B, C, h, w) (h = w = 1 for :class:`IdentityHead`)."""
    return out.float().mean(dim=(2, 3))


def identity_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the crop class logits, instances without a class ignored."""
    target = target.to(out.device).long()
    if not bool((target >= 0).any()):
        return out.sum() * 0.0
    return F.cross_entropy(identity_logits(out), target, ignore_index=-1) * IDENTITY_LOSS_WEIGHT


@torch.no_grad()
def crop_identity_accuracy(model, samples, device, batch_size: int = 32) -> dict:
    """Identity accuracy of a centred-instance model on un-augmented crops: overall and per class index."""
    if samples is None or samples.classes is None or not len(samples):
        return {}
    model.eval()
    pred = []
    for lo in range(0, len(samples), batch_size):
        x = samples.images[lo:lo + batch_size].to(device).float() / 255.0
        pred.append(identity_logits(model(x)["identity"]).argmax(1).cpu())
    model.train()
    p = torch.cat(pred).numpy()
    t = samples.classes.numpy()
    ok = t >= 0
    per = {int(c): float((p[t == c] == c).mean()) for c in np.unique(t[ok])}
    return {"accuracy": float((p[ok] == t[ok]).mean()) if ok.any() else float("nan"), "per_class": per}


def iter_topdown_id(dataset, base, out_dir, *, resume, cancel, stage_overrides, dist=None):
    """Train a multi-class top-down model (pipeline of :data:`napari_posetrack.nn.train.PIPELINES`).

    The identity classes are checked before anything is written; ``base.data["identity_map"]``
    (``{"F": "female"}``) renames track names to classes.
    """
    from pathlib import Path

    from .checkpoint import write_pipeline
    from .train import PIPELINES

    spec = identity_classes(dataset, identity_map=(base.data or {}).get("identity_map"))
    yield ProgressEvent("setup", message=f"identity classes {spec.class_names} (labeled instances: {spec.counts}"
                        + (f"; {spec.n_unnamed} without a track train the pose only" if spec.n_unnamed else "") + ")")
    data = relabel_by_class(dataset, spec)
    overrides = dict(stage_overrides or {})
    ci = dict(overrides.get("centered_instance") or {})
    ci["data"] = {**dict(base.data or {}), **dict(ci.get("data") or {}), "identity_classes": list(spec.class_names)}
    # the validation loss holds the identity cross-entropy; the pose metrics alone would keep an epoch
    # whose poses are good but whose identities are not yet learned
    ci["train"] = {"select_by": "loss", **dict(ci.get("train") or {})}
    overrides["centered_instance"] = ci
    result = yield from PIPELINES["topdown"](data, base, out_dir, resume=resume, cancel=cancel,
                                             stage_overrides=overrides, dist=dist)
    out_dir = Path(out_dir)
    if (out_dir / "centroid" / "config.yaml").is_file() and (out_dir / "centered_instance" / "config.yaml").is_file():
        if dist is None or dist.is_main:
            write_pipeline(out_dir, "topdown", identity_classes=list(spec.class_names))
    result["kind"] = "topdown-id"
    result["identity_classes"] = list(spec.class_names)
    return result
