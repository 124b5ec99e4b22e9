"""Predictor of a multi-class top-down model: poses as top-down, and a named identity per instance.

The centred-instance network of a ``topdown-id`` model has an ``identity`` head next to its
confidence maps, so the crop pass that predicts an instance's pose also gives its class
probabilities: :class:`TopDownIdentityPredictor` reads them through the
:meth:`~napari_posetrack.nn.inference.topdown.TopDownPredictor._crop_extra` hook, and they follow
the crop whose pose is kept (the turned-round try of an unsure heading, or the re-centred crop).
No crop is run only for the identity.

Within a frame, classes are assigned by Hungarian matching on those probabilities
(:func:`napari_posetrack.core.identity.assign_identities`), so no two instances share a class.
In the pose table the instance's ``track_id`` is its class (the track names are the classes,
:attr:`TopDownIdentityPredictor.class_names`), its ``tracking_score`` the probability of that
class, and ``identity_probs`` (N, C) the whole probability vector, one column per class.
"""

from __future__ import annotations

import numpy as np

from ..core.identity import assign_identities
from ..core.posetable import PoseTable
from .inference.predictors import TopDownPredictor

__all__ = ["FrameResults", "IdentityTableMixin", "TopDownIdentityPredictor", "identity_predictor_class"]


class FrameResults(list):
    """Per-frame ``(points, node_scores)`` (as every predictor returns) plus ``identity``: per frame
    ``(classes (I,), probs (I, C))``."""

    identity: list


class IdentityTableMixin:
    """Pose tables of identity predictors: ``track_id`` = class, ``tracking_score`` = its probability,
    ``identity_probs`` = all class probabilities. ``run_batch`` returns a :class:`FrameResults` whose
    ``identity`` holds ``(classes, probs)`` per frame; the class sets ``class_names``."""

    class_names: list

    @property
    def track_names(self) -> list:
        return list(self.class_names)

    def to_table(self, results, frame_idx, video_id: int = 0) -> PoseTable:
        table = super().to_table(results, frame_idx, video_id)
        c = len(self.class_names)
        ident = getattr(results, "identity", None)
        if ident is None or not len(table):
            return table.with_columns(identity_probs=np.full((len(table), c), np.nan, np.float32))
        classes = np.concatenate([k for k, _ in ident]).astype(np.int32)
        probs = np.concatenate([p for _, p in ident]).astype(np.float32).reshape(-1, c)
        chosen = np.where(classes >= 0, probs[np.arange(len(classes)), np.clip(classes, 0, None)], np.nan)
        return table.with_columns(track_id=classes, tracking_score=chosen.astype(np.float32), identity_probs=probs)


class TopDownIdentityPredictor(IdentityTableMixin, TopDownPredictor):
    """Top-down poses with identities from the centred-instance model's ``identity`` head."""

    kind = "topdown-id"

    def __init__(self, stages, device, settings=None, model_dir=None):
        super().__init__(stages, device, settings, model_dir)
        from .identity import class_names

        self.class_names = class_names(self.stages["centered_instance"].cfg)
        if self.settings.filters.max_instances is None:
            # known animals: at most one instance per class in a frame
            self.settings.filters.max_instances = len(self.class_names)

    def _crop_extra(self, out):
        from .identity import identity_logits

        return identity_logits(out["identity"]).softmax(-1)

    def _per_frame(self, pts, val, b, n, extra):
        c = len(self.class_names)
        fr = FrameResults()
        fr.identity = []
        for i in range(n):
            sel = b == i
            p, v, keep = self._filter_index(pts[sel], val[sel])
            probs = extra[sel][keep] if extra is not None else np.full((len(keep), c), 1.0 / max(c, 1), np.float32)
            probs = np.asarray(probs, np.float32).reshape(-1, c)
            fr.append((p[keep], v[keep]))
            fr.identity.append((assign_identities(probs), probs))
        return fr


def identity_predictor_class(kind: str, configs: dict):
    """The identity predictor for a checkpoint of ``kind`` (``"topdown"``, ``"bottomup"``) whose stage configs
    (``{stage name: config dict}``) list identity classes (``data.identity_classes``); None for a model without
    identity. Both backends ask this, so a model's identity is decoded the same from checkpoints and from an
    ONNX export."""
    def has_classes(stage):
        return bool(((configs.get(stage) or {}).get("data") or {}).get("identity_classes"))

    if kind == "topdown" and has_classes("centered_instance"):
        return TopDownIdentityPredictor
    if kind == "bottomup" and has_classes("bottomup"):
        from .inference.bottomup_id import BottomUpIdentityPredictor

        return BottomUpIdentityPredictor
    return None
