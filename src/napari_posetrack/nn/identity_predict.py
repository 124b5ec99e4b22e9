"""Predictor of a multi-class top-down model: poses as top-down, then a named identity per instance.

After the ordinary top-down pass (:class:`~napari_posetrack.nn.inference.predictors.TopDownPredictor`),
each kept instance is cropped again around its predicted anchor (rotated heading-up when the
model is aligned, exactly as in training) and the centred-instance network's ``identity``
head gives its class probabilities. Within a frame, classes are assigned by Hungarian
matching on those probabilities (:func:`napari_posetrack.core.identity.assign_identities`),
so no two instances share a class. In the pose table the instance's ``track_id`` is its
class (the track names are the classes, :attr:`TopDownIdentityPredictor.class_names`) and
its ``tracking_score`` is the probability of that class; the full probabilities of the
rows of the last :meth:`to_table` call are in :attr:`TopDownIdentityPredictor.last_probs`.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.identity import assign_identities
from ..core.posetable import PoseTable
from .inference.predictors import TopDownPredictor

__all__ = ["FrameResults", "TopDownIdentityPredictor"]


class FrameResults(list):
    """Per-frame ``(points, node_scores)`` (as every predictor returns) plus ``identity``: per frame
    ``(classes (I,), probs (I, C))``."""

    identity: list


class TopDownIdentityPredictor(TopDownPredictor):
    """Top-down poses with identities from the centred-instance model's ``identity`` head."""

    kind = "topdown-id"

    def __init__(self, stages, device, settings=None, model_dir=None):
        super().__init__(stages, device, settings, model_dir)
        from .identity import class_names

        self.class_names = class_names(self.stages["centered_instance"].cfg)
        if self.settings.filters.max_instances is None:
            # known animals: at most one instance per class in a frame
            self.settings.filters.max_instances = len(self.class_names)
        self.last_probs = np.zeros((0, len(self.class_names)), np.float32)

    @property
    def track_names(self) -> list:
        return list(self.class_names)

    def identity_probs(self, frames_u8, per_frame_points) -> list:
        """Class probabilities (I, C) of each frame's instances (points (I, K, 2) frame px)."""
        import torch

        from .align import crop_affine, heading_angles, node_index, sample_crops
        from .data import anchor_points
        from .identity import identity_logits

        st = self.stages["centered_instance"]
        c = len(self.class_names)
        names = self.skeleton.node_names
        anchor = node_index(st.cfg.model.anchor_node, names)
        heading = node_index(st.cfg.model.heading_node, names)
        out = [np.full((len(p), c), 1.0 / c, np.float32) for p in per_frame_points]
        b, axy, alpha, where = [], [], [], []
        for i, p in enumerate(per_frame_points):
            if not len(p):
                continue
            a = anchor_points(np.asarray(p, np.float32), anchor)
            phi = heading_angles(a, p[:, heading]) if heading is not None else np.full(len(p), np.nan)
            for j in range(len(p)):
                if np.isfinite(a[j]).all():
                    b.append(i)
                    axy.append(a[j])
                    alpha.append(phi[j] + math.pi / 2 if np.isfinite(phi[j]) else 0.0)
                    where.append((i, j))
        if not b:
            return out
        frames, fscale, n_in = self.crop_source(frames_u8)
        dev = frames.device
        A = crop_affine(torch.as_tensor(np.asarray(axy), dtype=torch.float32, device=dev),
                        torch.as_tensor(alpha, dtype=torch.float32, device=dev), n_in, st.scale)
        bt = torch.as_tensor(b, dtype=torch.long, device=dev)
        probs = []
        step = max(1, self.settings.crop_batch)
        for lo in range(0, len(b), step):
            crops = sample_crops(frames, bt[lo:lo + step], A[lo:lo + step], n_in, fscale)
            probs.append(identity_logits(st.forward(crops)["identity"]).softmax(-1).cpu().numpy())
        probs = np.concatenate(probs)
        for (i, j), pr in zip(where, probs):
            out[i][j] = pr
        return out

    def run_batch(self, frames_u8):
        res = super().run_batch(frames_u8)
        probs = self.identity_probs(frames_u8, [p for p, _ in res])
        fr = FrameResults(res)
        fr.identity = [(assign_identities(pr), pr) for pr in probs]
        return fr

    def to_table(self, results, frame_idx, video_id: int = 0) -> PoseTable:
        table = super().to_table(results, frame_idx, video_id)
        ident = getattr(results, "identity", None)
        if ident is None or not len(table):
            self.last_probs = np.zeros((len(table), len(self.class_names)), np.float32)
            return table
        classes = np.concatenate([c for c, _ in ident]).astype(np.int32)
        probs = np.concatenate([p for _, p in ident]).astype(np.float32).reshape(-1, len(self.class_names))
        self.last_probs = probs
        chosen = np.where(classes >= 0, probs[np.arange(len(classes)), np.clip(classes, 0, None)], np.nan)
        return table.with_columns(track_id=classes, tracking_score=chosen.astype(np.float32))

