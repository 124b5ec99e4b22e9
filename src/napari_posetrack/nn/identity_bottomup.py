"""Multi-class bottom-up models (``posetrack train INPUT --model bottomup-id``): training side.

A multi-class bottom-up model finds every node of every animal in the whole frame, like a
bottom-up model, but groups the nodes into animals by *who* they belong to instead of by
part affinity fields. Next to the confidence maps (one channel per node) it has one **class
map** per identity class (head ``classmaps``): class map ``c`` is high (a Gaussian of the
confidence maps' sigma) at every node of the animal of class ``c`` and zero elsewhere. At
inference every node peak goes to the class whose map is highest at the peak
(:mod:`napari_posetrack.nn.inference.bottomup_id`), so the identity is read from the frame
itself and never from the previous frames.

It is the ordinary bottom-up model type (``model.type: bottomup``) with
``data.identity_classes`` in its config, which is what makes
:func:`napari_posetrack.nn.model.head_names` give it ``classmaps`` in place of ``pafs``; it is
trained with the bottom-up recipe (whole frames or windows of them, ``augment.patch_size``).
The classes are the track names of the labels (:func:`napari_posetrack.core.identity.identity_classes`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.identity import identity_classes
from ..core.progress import ProgressEvent
from .identity import relabel_by_class

__all__ = ["class_maps", "frame_classes", "classmap_target", "iter_bottomup_id"]


def class_maps(points, classes, out_hw, stride: int, sigma: float):
    """Class maps: channel ``c`` is the max over the nodes of the instances of class ``c`` of a Gaussian.

    Parameters
    ----------
    points : tensor (B, N, K, 2) input px, NaN = not labeled
    classes : tensor (B, N, C), one-hot class of each instance (a zero row: no class, in no class map)
    out_hw : (h, w) output size; grid point (r, c) sits at input pixel (c * stride, r * stride)

    Returns
    -------
    tensor (B, C, h, w) in [0, 1]
    """
    from .targets import confmaps

    b, n, k, _ = points.shape
    h, w = out_hw
    n_classes = classes.shape[-1]
    if n == 0:
        return points.new_zeros((b, n_classes, h, w))
    # one map per instance: the nodes play the part of the instances in confmaps (max over them)
    per_instance = confmaps(points.transpose(1, 2), out_hw, stride, sigma)  # (B, N, h, w)
    onehot = classes.to(per_instance.device, per_instance.dtype)
    return (per_instance[:, :, None] * onehot[:, :, :, None, None]).amax(dim=1)


def classmap_target(batch, ctx):
    """Target builder of the ``classmaps`` head (see :data:`napari_posetrack.nn.targets.TARGETS`)."""
    return class_maps(batch["points"], batch["classes"], ctx["out_hw"], ctx["stride"], ctx["sigma"])


def frame_classes(fs, n_instances: int, n_classes: int) -> torch.Tensor:
    """One-hot class of every instance of every frame: uint8 tensor (M, n_instances, n_classes), a zero row for an
    instance without a class (and for padding), in the order of the frames' points
    (:func:`napari_posetrack.nn.batches.build_full_frame`).

    One-hot rather than an index so that a batch of them says how many classes there are.
    ``fs.labels.track_id`` must hold class indices (see :func:`~napari_posetrack.nn.identity.relabel_by_class`).
    """
    lab = fs.labels
    rows_of = {(int(v), int(f)): rows for v, f, rows in lab.frame_groups()} if lab is not None else {}
    out = np.zeros((len(fs), max(int(n_instances), 1), int(n_classes)), np.uint8)
    for i, (key, p) in enumerate(zip(fs.keys, fs.points)):
        rows = rows_of.get((int(key[0]), int(key[1])))
        if rows is None or not len(p):
            continue
        cls = np.asarray(lab.track_id[rows], np.int64)[:len(p)]
        for j, c in enumerate(cls):
            if 0 <= c < n_classes:
                out[i, j, c] = 1
    return torch.from_numpy(out)


def iter_bottomup_id(dataset, base, out_dir, *, resume, cancel, stage_overrides, dist=None):
    """Train a multi-class bottom-up model (pipeline of :data:`napari_posetrack.nn.train.PIPELINES`).

    The identity classes are checked before anything is written; ``base.data["identity_map"]``
    (``{"F": "female"}``) renames track names to classes. The best epoch is chosen as for bottom-up
    (validation OKS mAP): the nodes are grouped into animals by the class maps, so a pose score counts
    a class map that mixes two animals up as broken poses.
    """
    from .train import PIPELINES

    spec = identity_classes(dataset, identity_map=(base.data or {}).get("identity_map"))
    yield ProgressEvent("setup", message=f"identity classes {spec.class_names} (labeled instances: {spec.counts}"
                        + (f"; {spec.n_unnamed} without a track train the nodes, in no class map"
                           if spec.n_unnamed else "") + ")")
    data = relabel_by_class(dataset, spec)
    overrides = dict(stage_overrides or {})
    bu = dict(overrides.get("bottomup") or {})
    bu["data"] = {**dict(base.data or {}), **dict(bu.get("data") or {}), "identity_classes": list(spec.class_names)}
    overrides["bottomup"] = bu
    result = yield from PIPELINES["bottomup"](data, base, out_dir, resume=resume, cancel=cancel,
                                              stage_overrides=overrides, dist=dist)
    result["kind"] = "bottomup-id"
    result["identity_classes"] = list(spec.class_names)
    return result
